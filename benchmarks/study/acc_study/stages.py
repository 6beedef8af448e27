"""Stages of the accuracy–speedup study (issue #8). Each stage trains and/or evaluates one method on SST-2 and writes
one results JSON (a *part*); ``report`` merges the parts of every device call into the study's table and plot.

| stage | starts from | trains | profiles (all evaluated on SST-2 dev) |
|---|---|---|---|
| ``dense`` | pre-trained | dense, the budget | dense; post-hoc ACC: geometric profiles on the dense model |
| ``power-bert`` | the ``dense`` stage's model | configuration search + re-training | the learned one, at one target |
| ``lat`` | pre-trained | LengthDrop sandwich, the budget | best of an evolutionary search per budget |
| ``acc`` | shipped ``bert-sst2`` | nothing (its own budget: 3 epochs) | geometric curve; best of a search per budget |

Searches rank candidates on the held-out part of SST-2 train (never on dev); dev only reports.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acc.profiles import profile_for_speedup
from acc.profiles.search import Cost, FlopsCost, SearchOptions, SearchSpace, evolutionary_search, searched_profile

from .options import StudyError, StudyOptions
from .training import log

if TYPE_CHECKING:
    from acc.modeling.checkpoint import LoadedModel
    from acc.modeling.data import Batch, Split

SCHEMA_VERSION = 1
PART_KIND = "acc-study-part"
DEV = "sst2-dev"
DEV_RESERVE_S = 30.0  # a search stops this long before the stage's deadline: dev rows, JSON, exit


@dataclass(frozen=True)
class StudyData:
    """SST-2 as the study splits it: training rest, held-out (searches), dev (reports)."""

    train: Split
    heldout: Split
    dev: Split

    def to_dict(self) -> dict[str, Any]:
        return {"train_examples": len(self.train), "heldout_examples": len(self.heldout), "dev_examples": len(self.dev)}


def load_study_data(options: StudyOptions) -> StudyData:
    from acc.modeling.data import load_sst2

    from .evaluation import holdout_split

    rest, heldout = holdout_split(load_sst2("train", options.data_dir), options.heldout, options.heldout_min_words,
                                  options.seed)  # fmt: skip
    dev = load_sst2("dev", options.data_dir).head(options.max_dev_examples)
    return StudyData(rest.head(options.max_train_examples), heldout, dev)


def run_dense(options: StudyOptions) -> Path:
    """Dense fine-tuning (the budget), saved for PoWER-BERT; dense row and post-hoc ACC curve on dev."""
    from acc.modeling.checkpoint import save_checkpoint
    from acc.modeling.evaluate import eval_profiles

    from .evaluation import eval_batches, evaluate_profiles
    from .training import dense_only, train_loop

    o = options.resolved()
    data = load_study_data(o)
    loaded = _load(o.model or "minilm-l6", o.seed)
    target = Path(o.work_dir) / "dense"
    log(True, f"dense: fine-tuning {loaded.source} on {len(data.train)} examples, {o.epochs} epochs")
    record = train_loop(loaded.model, loaded.tokenizer, data.train, o.finetune_options(str(target)), dense_only,
                        phase="dense", progress=o.progress)  # fmt: skip
    training = {"phases": [record.to_dict()], "study_options": o.to_dict(), "data": data.to_dict()}
    save_checkpoint(replace(loaded, acc_config=replace(loaded.acc_config, max_length=o.max_length, training=training)),
                    target)  # fmt: skip
    dev = eval_batches(loaded.tokenizer, data.dev, o.eval_batch_size, o.max_length, _device(o))
    speedups = _reachable(o.speedups, loaded, o.reference_length)
    rows = evaluate_profiles(loaded, eval_profiles(loaded, speedups, o.reference_length), dev, DEV, o.max_length)
    points = [row.to_dict() for row in rows]
    log(True, "dense: " + _summary(points))
    methods = [
        _method("dense", "dense fine-tuned (no elimination)", points[:1], [record.to_dict()]),
        _method("post-hoc-acc", "post-hoc ACC: the dense model with geometric profiles (no elimination in training)",
                points, [record.to_dict()]),
    ]  # fmt: skip
    return write_part(o, "dense", methods, data)


def run_power_bert(options: StudyOptions) -> Path:
    """PoWER-BERT at ``options.power_speedup`` from the dense stage's model (or ``options.model``)."""
    from acc.modeling.checkpoint import load_model

    from .evaluation import eval_batches, evaluate_profiles
    from .power_bert import power_bert

    o = options.resolved()
    data = load_study_data(o)
    source = o.model or str(Path(o.work_dir) / "dense")
    if not (Path(source) / "config.json").exists():
        raise StudyError(f"PoWER-BERT starts from the dense stage's model, not found at {source}; run the dense stage "
                         "first (same --work-dir) or pass --model DIR")  # fmt: skip
    loaded = load_model(source)
    dense_phases = list(loaded.acc_config.training.get("phases", []))
    target = o.power_speedup
    log(True, f"power-bert {target:g}x: configuration search then re-training, from {source}")
    result = power_bert(loaded.model, loaded.tokenizer, data.train, o.finetune_options(o.work_dir), target,
                        o.power_lambda, o.retention_lr, o.power_search_epochs, o.power_retrain_epochs, o.progress)  # fmt: skip
    shape, min_keep = loaded.model.shape, loaded.model.min_keep
    profile = searched_profile(f"power{target:g}", result.keep_ratios, shape, o.reference_length, min_keep,
                               family="power-bert", target_speedup=target)  # fmt: skip
    dev = eval_batches(loaded.tokenizer, data.dev, o.eval_batch_size, o.max_length, _device(o))
    (row,) = evaluate_profiles(loaded, [profile], dev, DEV, o.max_length)
    point = row.to_dict() | {"learned_ratios": list(result.learned_ratios), "learned_speedup": result.learned_speedup,
                             "lambda": result.lam}  # fmt: skip
    log(True, f"power-bert {target:g}x: learned {result.learned_speedup:.2f}x, " + _summary([point]))
    phases = dense_phases + [result.search.to_dict(), result.retrain.to_dict()]
    method = _method("power-bert", "PoWER-BERT: learned configuration, re-trained per speedup (from the dense model)",
                     [point], phases, power_bert=result.to_dict())  # fmt: skip
    return write_part(o, f"power-bert-{target:g}x", [method], data)


def run_lat(options: StudyOptions) -> Path:
    """LengthDrop sandwich training from the pre-trained model (the budget), then an evolutionary search per budget."""
    from acc.modeling.evaluate import eval_profiles
    from acc.modeling.finetune import S_MAX_CLAMP

    from .evaluation import eval_batches, evaluate_profiles
    from .length_drop import LengthDrop
    from .training import train_loop

    started = time.monotonic()
    o = options.resolved()
    data = load_study_data(o)
    loaded = _load(o.model or "minilm-l6", o.seed)
    model = loaded.model
    ceiling = _ceiling(model.shape, o.reference_length, model.min_keep)
    s_max = o.s_max if o.s_max < ceiling else S_MAX_CLAMP * ceiling  # as acc-finetune's sandwich clamps it
    drop = LengthDrop.for_speedup(model.shape, s_max, o.reference_length, model.min_keep, o.num_random)
    log(True, f"lat: LengthDrop p={drop.p:.3f} (smallest sub-model {s_max:.3g}x), {len(data.train)} examples, "
              f"{o.epochs} epochs")  # fmt: skip
    record = train_loop(model, loaded.tokenizer, data.train, o.finetune_options(o.work_dir), drop.configs,
                        phase="lat lengthdrop", progress=o.progress)  # fmt: skip
    heldout = eval_batches(loaded.tokenizer, data.heldout, o.eval_batch_size, o.max_length, _device(o))
    dev = eval_batches(loaded.tokenizer, data.dev, o.eval_batch_size, o.max_length, _device(o))
    points, search = search_and_report(loaded, o, heldout, dev, FlopsCost(model.shape, o.reference_length, model.min_keep),
                                       "lat", "length-drop", _deadline(o, started))  # fmt: skip
    (full,) = evaluate_profiles(loaded, eval_profiles(loaded, [], o.reference_length), dev, DEV, o.max_length)
    points.insert(0, full.to_dict())  # the full model: LAT's 1x point
    length_drop = {"p": drop.p, "num_random": drop.num_random, "smallest": list(drop.smallest()), "s_max": s_max}
    method = _method("lat", "Length-Adaptive Transformer: LengthDrop training + evolutionary search (FLOPs)", points,
                     [record.to_dict()], search=search, length_drop=length_drop)  # fmt: skip
    return write_part(o, "lat", [method], data)


def run_acc(options: StudyOptions, latency_cost: Cost | None = None) -> Path:
    """The shipped ACC model: offline-tuning curve (no training) and per-layer search (FLOPs, optionally latency)."""
    from acc.modeling.evaluate import eval_profiles

    from .evaluation import eval_batches, evaluate_profiles

    started = time.monotonic()
    o = options.resolved()
    data = load_study_data(o)
    loaded = _load(o.model or "bert-sst2", o.seed)
    model = loaded.model.to(_device(o))  # nothing trains it here, so nothing else would move it
    training = loaded.acc_config.training
    budget = [{"phase": "acc sandwich (shipped model)", "epochs": training.get("epochs"), "steps": training.get("steps"),
               "train_examples": training.get("train_examples"), "configs_per_step": 2 + int(training.get("num_random", 1)),
               "train_time_s": training.get("train_time_s")}] if training else []  # fmt: skip
    dev = eval_batches(loaded.tokenizer, data.dev, o.eval_batch_size, o.max_length, _device(o))
    speedups = _reachable(o.speedups, loaded, o.reference_length)
    rows = evaluate_profiles(loaded, eval_profiles(loaded, speedups, o.reference_length), dev, DEV, o.max_length)
    offline = [row.to_dict() for row in rows]
    log(True, "acc offline: " + _summary(offline))
    note = ("the shipped model was trained on all of SST-2 train, so its held-out accuracy is not held out for it; "
            "the search only ranks candidates with it")  # fmt: skip
    methods = [_method("acc-offline", "ACC (shipped bert-sst2): offline-tuned geometric profiles", offline, budget)]
    heldout = eval_batches(loaded.tokenizer, data.heldout, o.eval_batch_size, o.max_length, _device(o))
    searches = 1 + (latency_cost is not None)
    deadline = _deadline(o, started)
    points, search = search_and_report(loaded, o, heldout, dev, FlopsCost(model.shape, o.reference_length, model.min_keep),
                                       "acc-search", "searched", _share(deadline, searches))  # fmt: skip
    methods.append(_method("acc-search", "ACC (shipped bert-sst2): per-layer search (FLOPs), selected on held-out train",
                           [offline[0]] + points, budget, search=search, note=note))  # fmt: skip
    if latency_cost is not None:
        points, search = search_and_report(loaded, o, heldout, dev, latency_cost, "acc-latency", "searched-latency",
                                           deadline)  # fmt: skip
        methods.append(_method("acc-search-latency", f"ACC (shipped bert-sst2): per-layer search, measured-latency cost "
                               f"({getattr(latency_cost, 'source', '')})", [offline[0]] + points, budget, search=search,
                               note=note))  # fmt: skip
    return write_part(o, "acc", methods, data)


def search_and_report(
    loaded: LoadedModel,
    o: StudyOptions,
    heldout: Sequence[Batch],
    dev: Sequence[Batch],
    cost: Cost,
    prefix: str,
    family: str,
    deadline: float | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Search on held-out, then dev rows of the best profile per budget (one row per distinct profile).

    ``deadline`` (a ``time.monotonic()`` value) stops the search early, minus time for the dev evaluation.
    """
    from .evaluation import accuracy, evaluate_profiles

    model = loaded.model
    shape, min_keep = model.shape, model.min_keep
    space = SearchSpace(shape.num_layers, o.reference_length, min_count=min_keep)
    ceiling = _ceiling(shape, o.reference_length, min_keep)
    seeds = [profile_for_speedup(shape, b, o.reference_length, min_keep).keep_ratios for b in o.budgets if b < ceiling]
    limits = [o.search_seconds] if o.search_seconds is not None else []
    if deadline is not None:
        limits.append(max(0.0, deadline - time.monotonic() - DEV_RESERVE_S))
    options = SearchOptions(population=o.population, generations=o.generations, mutations=o.mutations,
                            crossovers=o.crossovers, mutation_prob=o.mutation_prob, seed=o.seed,
                            max_seconds=min(limits) if limits else None)  # fmt: skip
    if options.max_seconds is not None:
        log(True, f"{prefix} search: at most {options.max_seconds:.0f} s of generations")
    started = time.perf_counter()

    def on_generation(generation: int, front: Sequence[Any]) -> None:
        if generation % 5 == 0 or generation == options.generations:
            log(True, f"{prefix} search: generation {generation}/{options.generations}, {len(front)} on the front, "
                      f"{time.perf_counter() - started:.0f} s")  # fmt: skip

    result = evolutionary_search(lambda ratios: accuracy(model, heldout, ratios), cost, space, o.budgets, options,
                                 seeds, on_generation)  # fmt: skip
    chosen: dict[tuple[int, ...], list[float]] = {}
    for budget, cand in result.best.items():
        if cand is not None:
            chosen.setdefault(cand.gene, []).append(budget)
    by_gene = {c.gene: c for c in result.candidates}
    profiles = [searched_profile(f"{prefix}{min(b):g}", by_gene[g].keep_ratios, shape, o.reference_length, min_keep,
                                 family=family, target_speedup=min(b)) for g, b in chosen.items()]  # fmt: skip
    rows = evaluate_profiles(loaded, profiles, dev, DEV, o.max_length)
    points = [row.to_dict() | {"budgets": chosen[g], "heldout_accuracy": by_gene[g].score,
                               "search_speedup": by_gene[g].speedup, "search_cost": cost.name}
              for row, g in zip(rows, chosen)]  # fmt: skip
    log(True, f"{prefix}: {result.generations} generations, {len(result.candidates)} profiles evaluated in "
              f"{result.seconds:.0f} s; dev " + _summary(points))  # fmt: skip
    summary = result.to_dict()
    summary["heldout_examples"] = sum(len(b.indices) for b in heldout)
    return points, summary


def write_part(o: StudyOptions, stage: str, methods: list[dict[str, Any]], data: StudyData) -> Path:
    """``<out>/study-<stage>.json``, written atomically (temp file, then rename)."""
    report = {
        "schema_version": SCHEMA_VERSION,
        "kind": PART_KIND,
        "stage": stage,
        "created_utc": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "environment": environment(o.device),
        "options": o.to_dict(),
        "data": data.to_dict(),
        "methods": methods,
    }
    out = Path(o.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"study-{stage}.json"
    handle = tempfile.NamedTemporaryFile("w", dir=out, prefix=f".{path.name}.", delete=False, encoding="utf-8")
    try:
        with handle:
            handle.write(json.dumps(report, indent=2, allow_nan=False) + "\n")
        os.chmod(handle.name, 0o644)  # the temp file is created 0600
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    log(True, f"wrote {path}")
    return path


def environment(device: str) -> dict[str, Any]:
    """Where the numbers came from: device name and library versions."""
    import importlib.metadata
    import platform

    import torch
    import transformers

    from acc.modeling.evaluate import resolve_device

    resolved = resolve_device(device)
    try:
        acc_version = importlib.metadata.version("acc-deploy")
    except importlib.metadata.PackageNotFoundError:
        acc_version = "source tree"
    name = torch.cuda.get_device_name(resolved) if resolved.type == "cuda" else platform.processor() or "cpu"
    return {"device": str(resolved), "device_name": name, "torch": torch.__version__,
            "transformers": transformers.__version__, "acc-deploy": acc_version, "python": platform.python_version()}  # fmt: skip


def _method(
    method: str, label: str, points: list[dict[str, Any]], train: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    steps = sum(int(phase.get("steps") or 0) for phase in train)
    return {"method": method, "label": label, "points": points, "train": train, "train_steps": steps, **extra}


def _load(name: str, seed: int) -> LoadedModel:
    """Seeded before loading: a base model's classifier head is initialised there."""
    import torch

    from acc.modeling.checkpoint import load_model

    torch.manual_seed(seed)
    return load_model(name)


def _device(o: StudyOptions) -> Any:
    from acc.modeling.evaluate import resolve_device

    return resolve_device(o.device)


def _deadline(o: StudyOptions, started: float) -> float | None:
    return None if o.deadline_s is None else started + o.deadline_s


def _share(deadline: float | None, searches: int) -> float | None:
    """The first of ``searches`` searches gets an equal share of the time left."""
    if deadline is None:
        return None
    now = time.monotonic()
    return now + (deadline - now) / searches


def _reachable(speedups: Sequence[float], loaded: LoadedModel, reference_length: int) -> list[float]:
    """The speedups this model's geometric family can reach (a shallower test model cannot reach 4.8x)."""
    ceiling = _ceiling(loaded.model.shape, reference_length, loaded.model.min_keep)
    skipped = [s for s in speedups if s >= ceiling]
    if skipped:
        log(
            True, f"skipping speedups {skipped}: above this model's ceiling {ceiling:.2f}x at {reference_length} tokens"
        )
    return [s for s in speedups if s < ceiling]


def _ceiling(shape: Any, reference_length: int, min_keep: int) -> float:
    from acc.profiles import max_speedup

    return max_speedup(shape, reference_length, min_keep) * 0.999


def _summary(points: Sequence[dict[str, Any]]) -> str:
    return "  ".join(f"{p['profile']} {p['theoretical_speedup_128']:.2f}x {100 * p['accuracy']:.2f}%" for p in points)
