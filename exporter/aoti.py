"""AOTInductor packages (``.pt2``) of the fused fast path, for deployments that run libtorch instead of ONNX Runtime.

One package = one (profile, sequence bucket): ``FastAccBert`` with that profile's ``StaticPlan``, wrapped as
``(input_ids, attention_mask, token_type_ids) → logits`` (fp32), ``torch.export``-ed with a dynamic batch axis and
compiled by ``torch._inductor.aoti_compile_and_package``. Python loads it with ``acc.runtime.aoti.AotiRunner``,
C++ with ``torch::inductor::AOTIModelPackageLoader`` (``examples/cpp/aoti``).

Why the sequence length is static (one package per bucket) and only the batch is dynamic: the number of word-vector
slots entering each layer is ``keep_counts(ratios, seq_len)`` — a float32 multiply and ``ceil`` in Python, exact
only in float32. A symbolic sequence length would turn it into a SymPy ``ceiling`` over exact rationals (different
from float32 at some lengths), and ``topk``/``gather`` widths, the Triton kernels' block sizes (``N_POW2`` and tiles,
constexprs computed from the length) and the padding-bias width would all guard on it, so export either specialises
the length anyway or fails. Batch size enters no such formula: it is free. This is the same bucketing the CUDA-graph
runner (``FastAccRunner``) uses; requests are padded to the bucket (padding is masked and never selected).

Kernels: on CPU the PyTorch references (pure ATen, ``kernel_backend="torch"``). On CUDA the Triton score and
selection kernels are captured with ``torch.library.wrap_triton`` during export (``kernels="triton"``; ``auto``
falls back to the references when Triton cannot run or capture fails, and says so in the package's metadata).

Every package is validated before it is renamed into place: loaded back with ``aoti_load_package`` and compared with
the eager reference model (``AccBertForSequenceClassification``, fp32) on random token batches of several batch
sizes and valid lengths: label agreement and max |Δlogits| against the export config's tolerances (fp16 bounds for
fp16 packages). ``add_aoti_packages`` writes ``aoti/<profile>_<bucket>.pt2`` into a bundle (staging) directory and
returns the manifest records.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acc.profiles import ExportError, Profile, ToleranceError

AOTI_DIR = "aoti"
PACKAGE_FORMAT = "acc-aoti-v1"  # metadata key acc_format: what AotiRunner accepts
DEFAULT_BATCH_RANGE = (1, 64)
DEFAULT_SEQ_BUCKETS = (128,)
KERNELS = ("auto", "triton", "torch")
# Batch size at which batch-dependent Triton launch choices are made for a dynamic-batch package (see
# acc.modeling.kernels.ops.traceable_launches): a typical server batch.
TUNE_BATCH = 16
METHOD = "fused"  # SDPA + column sums + one-launch selection: the method the Triton kernels implement


@dataclass(frozen=True)
class AotiPackage:
    """One written package and what its validation measured."""

    path: Path
    profile: str
    seq_len: int
    device: str
    dtype: str
    kernels: str  # "triton" or "torch": what the compiled graph runs for the ACC score and selection
    batch_range: tuple[int, int]
    keep_ratios: tuple[float, ...]
    label_agreement: float
    max_abs_diff: float
    examples: int
    compile_s: float
    kernel_note: str | None = None  # why "auto" fell back to the references, if it did

    def to_manifest(self, root: Path, digest: str | None = None) -> dict[str, Any]:
        """The manifest record: bundle-relative path, sha256, device, versions, bucket, validation."""
        import torch

        from .bundle import file_digest

        return {
            "profile": self.profile, "path": self.path.relative_to(root).as_posix(),
            "sha256": digest or file_digest(self.path).sha256, "device": self.device, "dtype": self.dtype,
            "torch": torch.__version__, "kernels": self.kernels, "seq_buckets": [self.seq_len],
            "batch_range": list(self.batch_range), "keep_ratios": list(self.keep_ratios),
            "validation": {"label_agreement": self.label_agreement, "max_abs_diff": self.max_abs_diff,
                           "examples": self.examples},
            "compile_s": round(self.compile_s, 1), "kernel_note": self.kernel_note,
        }  # fmt: skip


def aoti_classifier(fast: Any, plan: Any) -> Any:
    """``FastAccBert`` + a static plan as the module that is exported: three int64 [B, N] inputs → fp32 logits."""
    from torch import nn

    class AotiClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fast = fast
            self.plan = plan

        def forward(self, input_ids, attention_mask, token_type_ids):  # int64 [B, N] each
            return self.fast(input_ids, attention_mask, token_type_ids, self.plan).logits.float()

    return AotiClassifier().eval()


def export_aoti_package(
    model: Any,
    profile: Profile,
    out_path: str | os.PathLike[str],
    *,
    batch_range: tuple[int, int] = DEFAULT_BATCH_RANGE,
    seq_buckets: Sequence[int] = DEFAULT_SEQ_BUCKETS,
    device: str = "cpu",
    dtype: str | None = None,
    kernels: str = "auto",
    labels: Sequence[str] | None = None,
    allow_mismatch: bool = False,
    inductor_configs: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> list[AotiPackage]:
    """Compile, validate and write one package per sequence bucket of ``profile``; returns them in bucket order.

    ``model``: the eager ACC model (``AccBertForSequenceClassification``), also the validation reference.
    ``out_path``: the package path with one bucket; with several, ``_<bucket>`` is inserted before ``.pt2``.
    ``dtype``: fp32 (default on CPU) or fp16 (default on CUDA). ``allow_mismatch`` records a failed validation in
    the result instead of raising ``ToleranceError``. ``inductor_configs`` are passed to Inductor (e.g. a lower
    ``aot_inductor.compile_wrapper_opt_level`` for faster builds).
    """
    setup = _setup(model, device, dtype, kernels, batch_range, seq_buckets)
    out = Path(out_path)
    if out.suffix != ".pt2":
        raise ExportError(f"AOTInductor package path {out} must end in .pt2; pass e.g. {out.with_suffix('.pt2')}")
    buckets = sorted({int(b) for b in seq_buckets})
    paths = {b: out if len(buckets) == 1 else out.with_name(f"{out.stem}_{b}.pt2") for b in buckets}
    out.parent.mkdir(parents=True, exist_ok=True)
    labels = tuple(labels) if labels is not None else _labels(model)
    written: list[AotiPackage] = []
    with _bar(progress, len(buckets), f"aoti {profile.name}") as bar:
        for bucket in buckets:
            work = Path(tempfile.mkdtemp(prefix=f".{paths[bucket].name}.", dir=out.parent))
            try:
                package = _build_one(setup, model, profile, bucket, work / paths[bucket].name, labels,
                                     inductor_configs, allow_mismatch, bar)  # fmt: skip
                os.replace(package.path, paths[bucket])
                written.append(dataclasses.replace(package, path=paths[bucket]))
            finally:
                shutil.rmtree(work, ignore_errors=True)
            bar.update(1)
    return written


def add_aoti_packages(
    bundle_dir: str | os.PathLike[str],
    model: Any,
    profiles: Sequence[Profile],
    device: str = "cpu",
    *,
    seq_buckets: Sequence[int] = DEFAULT_SEQ_BUCKETS,
    batch_range: tuple[int, int] = DEFAULT_BATCH_RANGE,
    dtype: str | None = None,
    kernels: str = "auto",
    labels: Sequence[str] | None = None,
    allow_mismatch: bool = False,
    inductor_configs: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Write ``aoti/<profile>_<bucket>.pt2`` for every profile and bucket into ``bundle_dir``; the manifest records.

    Meant for a staging directory (``acc-export`` before ``write_bundle``, which hashes the files, or ``acc-aoti``):
    the records go under the manifest's ``aoti`` key.
    """
    root = Path(bundle_dir)
    folder = root / AOTI_DIR
    folder.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for profile in profiles:
        for bucket in sorted({int(b) for b in seq_buckets}):
            packages = export_aoti_package(
                model, profile, folder / f"{profile.name}_{bucket}.pt2", batch_range=batch_range, seq_buckets=(bucket,),
                device=device, dtype=dtype, kernels=kernels, labels=labels, allow_mismatch=allow_mismatch,
                inductor_configs=inductor_configs, progress=progress,
            )  # fmt: skip
            records += [package.to_manifest(root) for package in packages]
    return records


def aoti_from_bundle(
    bundle_dir: str | os.PathLike[str],
    device: str = "cpu",
    *,
    out_dir: str | os.PathLike[str] | None = None,
    model_source: str | None = None,
    profiles: Sequence[str] | None = None,
    overwrite: bool = False,
    say: Any = None,
    **options: Any,
) -> tuple[Path, list[dict[str, Any]]]:
    """Packages for an existing bundle's profiles (``acc-aoti``); returns (where they went, their records).

    Without ``out_dir`` the bundle is updated atomically: a copy (hard links where possible) gets ``aoti/`` and a
    manifest with an ``aoti`` section and the new files hashed, then is swapped in for the original. With
    ``out_dir`` the bundle is only read: ``out_dir/aoti/*.pt2`` and ``out_dir/aoti.json`` (the records) are written,
    also through a staging directory. The model comes from the manifest's ``model.source`` unless
    ``model_source`` names another checkpoint (the bundle holds graphs, not a PyTorch checkpoint). ``options`` go
    to ``add_aoti_packages``.
    """
    from acc.modeling.checkpoint import load_model, source_checkpoint
    from acc.profiles import AccError
    from acc.runtime.manifest import read_manifest

    from .bundle import _move_into_place, _write_json, new_staging_dir, write_bundle

    say = say or (lambda message: None)
    manifest = read_manifest(bundle_dir, verify=True)
    wanted = list(profiles) if profiles else manifest.profile_names
    chosen = [manifest.profile(name).profile for name in wanted]  # PolicyError names the shipped profiles
    target = Path(out_dir) if out_dir is not None else Path(bundle_dir)
    if out_dir is not None and target.exists() and not overwrite:
        raise ExportError(f"{target} already exists; pass --overwrite or another --out")
    try:
        source = source_checkpoint(manifest.model.source, model_source, "--model")
    except AccError as exc:
        raise ExportError(str(exc)) from None
    say(f"loading model {source}")
    try:
        model = load_model(source).model
    except AccError as exc:
        raise ExportError(f"cannot load the bundle's model from {source!r} ({exc}); pass --model CHECKPOINT") from exc
    if model.num_layers != manifest.model.num_layers or model.config.hidden_size != manifest.model.hidden_size:
        raise ExportError(f"model {source} ({model.num_layers} layers, hidden {model.config.hidden_size}) is not the "
                          f"bundle's ({manifest.model.num_layers}, {manifest.model.hidden_size}); pass --model with the "
                          "checkpoint the bundle was exported from")  # fmt: skip
    staging = new_staging_dir(target)
    try:
        if out_dir is None:
            shutil.copytree(manifest.bundle_dir, staging, dirs_exist_ok=True, copy_function=_link_or_copy,
                            ignore=lambda folder, names: [n for n in names if n == "manifest.json"])  # fmt: skip
        records = add_aoti_packages(staging, model, chosen, device, labels=manifest.model.labels, **options)
        if out_dir is not None:
            _write_json(staging / "aoti.json", {"bundle": str(manifest.bundle_dir), "packages": records})
            _move_into_place(staging, target)
            return target, records
        fields = {k: v for k, v in manifest.to_json().items() if k not in ("format", "format_version", "files")}
        fresh = {(r["profile"], tuple(r["seq_buckets"])) for r in records}
        kept = [r for r in manifest.sections.get("aoti", [])
                if (r.get("profile"), tuple(r.get("seq_buckets", ()))) not in fresh]  # fmt: skip
        fields["aoti"] = kept + records
        say("writing bundle")
        write_bundle(staging, target, fields, overwrite=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target, records


def _link_or_copy(source: str, destination: str) -> str:
    """Hard link (no bytes copied; files are replaced, never written in place) or, across file systems, a copy."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
    return destination


# ------------------------------------------------------------------------------------------------------ internals


@dataclass(frozen=True)
class _Setup:
    device: Any  # torch.device
    dtype: Any  # torch.dtype
    kernels: str  # resolved: triton or torch
    kernel_note: str | None
    batch_range: tuple[int, int]
    fallback: bool  # kernels was "auto": a failed Triton capture retries with the references


def _setup(model: Any, device: str, dtype: str | None, kernels: str, batch_range: tuple[int, int],
           seq_buckets: Sequence[int]) -> _Setup:  # fmt: skip
    """Check the arguments before any work and resolve device, dtype and kernels."""
    import torch

    from acc.modeling.kernels import triton_status

    if not hasattr(model, "hf") or not hasattr(model, "num_layers"):
        raise ExportError(f"{type(model).__name__} is not an ACC BERT classifier; pass load_model(...).model")
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError):
        target = None
    if target is None or target.type not in ("cpu", "cuda"):
        raise ExportError(f"AOTInductor packages are built for cpu or cuda, got {device!r}; pass --device cpu|cuda")
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ExportError("--device cuda needs a CUDA build of torch and a visible GPU; build on the GPU machine "
                          "or pass --device cpu")  # fmt: skip
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    name = dtype or ("fp16" if target.type == "cuda" else "fp32")
    if name not in dtypes or (target.type == "cpu" and name != "fp32"):
        allowed = "fp32" if target.type == "cpu" else "fp32, fp16 or bf16"
        raise ExportError(f"dtype {name!r} is not supported on {target.type}; pass {allowed}")
    if kernels not in KERNELS:
        raise ExportError(f"unknown kernels {kernels!r}; pass one of {', '.join(KERNELS)}")
    low, high = (int(v) for v in batch_range)
    if not 1 <= low <= high:
        raise ExportError(f"batch range {batch_range} is not 1 <= min <= max; pass e.g. --batch-range 1,64")
    if not seq_buckets or any(int(b) < 2 or int(b) > int(model.config.max_position_embeddings) for b in seq_buckets):
        raise ExportError(f"sequence buckets {list(seq_buckets)} must lie in [2, "
                          f"{model.config.max_position_embeddings}] (the model's positions)")  # fmt: skip
    note = None
    resolved = "torch"
    if target.type == "cuda" and kernels != "torch":
        note = triton_status(target)
        if note is None:
            resolved = "triton"
        elif kernels == "triton":
            raise ExportError(f"Triton kernels cannot run here ({note}); pass kernels='torch' (--kernels torch)")
    elif target.type == "cpu" and kernels == "triton":
        raise ExportError("the Triton kernels run on CUDA only; CPU packages use the PyTorch references "
                          "(pass --kernels auto or torch)")  # fmt: skip
    return _Setup(target, dtypes[name], resolved, note, (low, high), fallback=kernels == "auto")


def _labels(model: Any) -> tuple[str, ...]:
    id2label = getattr(model.config, "id2label", None) or {}
    return tuple(str(id2label[i]) for i in sorted(id2label)) if id2label else ()


def _build_one(setup: _Setup, model: Any, profile: Profile, bucket: int, path: Path, labels: tuple[str, ...],
               inductor_configs: Mapping[str, Any] | None, allow_mismatch: bool, bar: Any) -> AotiPackage:  # fmt: skip
    """Export + compile + validate one bucket into ``path`` (inside a temp dir); Triton fallback when allowed."""
    kernels, note = setup.kernels, setup.kernel_note
    started = time.perf_counter()
    try:
        _compile(setup, model, profile, bucket, path, kernels, labels, inductor_configs, bar)
    except ExportError:
        raise
    except Exception as exc:  # torch.export / Inductor raise many types; all mean "this did not compile"
        reason = _first_line(exc)
        if kernels != "triton" or not setup.fallback:
            raise ExportError(f"AOTInductor could not compile profile {profile.name} at length {bucket} "
                              f"({reason}); file a bug with this message") from exc  # fmt: skip
        note = f"Triton kernels could not be captured ({reason}); using the PyTorch references"
        warnings.warn(note, stacklevel=3)
        kernels = "torch"
        _compile(setup, model, profile, bucket, path, kernels, labels, inductor_configs, bar)
    compile_s = time.perf_counter() - started
    _set_stage(bar, profile.name, bucket, "validate")
    agreement, max_diff, examples = validate_package(path, model, profile, bucket, setup.batch_range, setup.device)
    package = AotiPackage(path, profile.name, bucket, setup.device.type, _dtype_name(setup.dtype), kernels,
                          setup.batch_range, tuple(profile.keep_ratios), agreement, max_diff, examples, compile_s,
                          note)  # fmt: skip
    atol, min_agreement = _tolerances(model, setup.dtype)
    if (max_diff > atol or agreement < min_agreement) and not allow_mismatch:
        raise ToleranceError(
            f"AOTInductor package {profile.name} (length {bucket}, {setup.device.type} {_dtype_name(setup.dtype)}) "
            f"differs from the eager model: label agreement {agreement:.4f} (min {min_agreement}), max |Δlogits| "
            f"{max_diff:.3g} (atol {atol:g}) on {examples} rows; pass allow_mismatch=True (--allow-mismatch) to keep it"
        )
    return package


def _compile(setup: _Setup, model: Any, profile: Profile, bucket: int, path: Path, kernels: str,
             labels: tuple[str, ...], inductor_configs: Mapping[str, Any] | None, bar: Any) -> None:  # fmt: skip
    import torch

    from acc.modeling.fast import make_plan, to_fast
    from acc.modeling.kernels.ops import traceable_launches

    fast = to_fast(model, setup.dtype, setup.device, kernel_backend=kernels)
    plan = make_plan(METHOD, profile.keep_ratios, fast.num_layers, bucket, fast.min_keep, padded=True)
    module = aoti_classifier(fast, plan)
    low, high = setup.batch_range
    example = _example_inputs(model, min(max(2, low), high), bucket, setup.device)
    batch = torch.export.Dim("batch", min=low, max=high)
    shapes = {name: {0: batch} for name in example}
    _set_stage(bar, profile.name, bucket, "export")
    traced = traceable_launches(min(high, TUNE_BATCH)) if kernels == "triton" else nullcontext()
    with traced:
        exported = torch.export.export(module, tuple(example.values()), dynamic_shapes=shapes)
    metadata = {
        "acc_format": PACKAGE_FORMAT, "acc_profile": profile.name, "acc_seq_len": str(bucket),
        "acc_batch_min": str(low), "acc_batch_max": str(high), "acc_device": setup.device.type,
        "acc_dtype": _dtype_name(setup.dtype), "acc_kernels": kernels, "acc_method": METHOD,
        "acc_torch": torch.__version__, "acc_keep_ratios": json.dumps(list(profile.keep_ratios)),
        "acc_labels": json.dumps(list(labels)), "acc_inputs": "input_ids,attention_mask,token_type_ids",
    }  # fmt: skip
    configs = {"aot_inductor.metadata": metadata, **dict(inductor_configs or {})}
    _set_stage(bar, profile.name, bucket, "compile (minutes on CPU)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch-internal pytree deprecation noise
        torch._inductor.aoti_compile_and_package(exported, package_path=str(path), inductor_configs=configs)
    if not path.is_file():
        raise ExportError(f"AOTInductor wrote no package at {path}; check free disk space and file a bug")


def validate_package(
    path: str | os.PathLike[str],
    model: Any,
    profile: Profile,
    seq_len: int,
    batch_range: tuple[int, int],
    device: Any,
    seed: int = 0,
) -> tuple[float, float, int]:
    """(label agreement, max |Δlogits|, rows) of the loaded package vs the eager fp32 model on random batches.

    Batches: the smallest and largest allowed batch (capped at 16) and one in between, every row with its own random
    valid length (one full row each), so the dynamic batch axis and the masked plan are both exercised.
    """
    import torch

    from acc.exporter.config import config_for
    from acc.exporter.validate import synthetic_batches

    try:
        runner = torch._inductor.aoti_load_package(str(path))
    except Exception as exc:  # the loader raises RuntimeError with a long C++ trace
        raise ExportError(
            f"the package just compiled at {path} does not load ({_first_line(exc)}); file a bug"
        ) from exc
    low, high = batch_range
    sizes = sorted({low, min(high, max(low, 3)), min(high, 16)})
    reference = copy.deepcopy(model).float().to(device).eval()
    agree = rows = 0
    max_diff = 0.0
    with torch.inference_mode():
        for batch in synthetic_batches(config_for(model.config), [(b, seq_len) for b in sizes], seed=seed):
            inputs = [
                torch.from_numpy(batch.feeds[k]).to(device) for k in ("input_ids", "attention_mask", "token_type_ids")
            ]
            got = runner(*inputs)
            got = got[0] if isinstance(got, (list, tuple)) else got
            want = reference(*inputs, keep_ratios=profile.keep_ratios).logits.float()
            if got.shape != want.shape:
                raise ExportError(f"package {path} returned logits of shape {tuple(got.shape)}, expected "
                                  f"{tuple(want.shape)}; file a bug")  # fmt: skip
            max_diff = max(max_diff, float((got.float() - want).abs().max()))
            agree += int((got.argmax(-1) == want.argmax(-1)).sum())
            rows += want.shape[0]
    return agree / rows, max_diff, rows


def _tolerances(model: Any, dtype: Any) -> tuple[float, float]:
    import torch

    from acc.exporter.config import config_for
    from acc.exporter.precision import FP16_ATOL, FP16_MIN_LABEL_AGREEMENT

    if dtype != torch.float32:
        return FP16_ATOL, FP16_MIN_LABEL_AGREEMENT
    config = config_for(model.config)
    return config.atol_for("logits"), config.min_label_agreement


def _example_inputs(model: Any, batch: int, seq_len: int, device: Any) -> dict[str, Any]:
    from acc.exporter.config import config_for

    sample = config_for(model.config).sample_inputs(batch, seq_len)
    return {name: sample[name].to(device) for name in ("input_ids", "attention_mask", "token_type_ids")}


def _dtype_name(dtype: Any) -> str:
    return {"torch.float32": "fp32", "torch.float16": "fp16", "torch.bfloat16": "bf16"}[str(dtype)]


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def _bar(enabled: bool, total: int, description: str) -> Any:
    if not enabled:
        return nullcontext(_NoBar())
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="package", leave=False)


def _set_stage(bar: Any, profile: str, bucket: int, stage: str) -> None:
    bar.set_postfix_str(f"{profile} n={bucket}: {stage}")


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass
