"""The accuracy and profile parts of ``kernels_bench.py`` (split out to keep each file to one job).

accuracy: the shipped ACC model on SST-2 dev through the fast path vs the reference ``AccBertForSequenceClassification``
(fp32 eager, dynamic padding): label agreement, accuracy, and how often every layer's kept set is identical.
profile:  where GPU time goes in eager passes (torch.profiler kernel times, grouped), dense vs naive vs fused.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

PROFILE_ITERS = 3
KERNEL_GROUPS = (  # first match wins; names are lower-cased kernel names
    (
        "acc kernels (triton)",
        ("_column_sum_kernel", "_select_kernel", "_select_plan_kernel", "_gather_kernel", "_row_lse_kernel"),
    ),
    ("attention", ("flash", "fmha", "attention", "efficient")),
    ("gemm", ("gemm", "xmma", "cutlass", "nvjet", "cublas", "sm90_", "sm80_", "ampere")),
    ("softmax", ("softmax",)),
    ("top-k / sort / gather", ("topk", "sort", "radix", "bitonic", "gather", "scatter", "index")),
    ("layer norm", ("layer_norm", "layernorm")),
    ("reduction", ("reduce",)),
    ("elementwise / copy", ("elementwise", "vectorized", "unrolled", "gelu", "copy", "fill", "cat")),
)


def accuracy_part(ctx: Any) -> dict:
    import torch

    from acc.modeling.checkpoint import load_model
    from acc.modeling.data import iter_batches, load_sst2
    from acc.modeling.evaluate import eval_profiles
    from acc.modeling.fast import FastAccRunner, to_fast

    loaded = load_model(ctx.args.model)
    model = loaded.model.to(ctx.device).eval()
    max_length = loaded.acc_config.max_length
    split = load_sst2("dev", ctx.args.data_dir).head(ctx.args.max_examples)
    batches = [b.to(ctx.device) for b in iter_batches(split, loaded.tokenizer, 8 if ctx.smoke else 32, max_length)]
    profiles = eval_profiles(loaded, ctx.speedups)
    buckets = tuple(b for b in (16, 32, 64, 128, 256) if b < max_length) + (max_length,)
    shipped = {row.get("profile"): row.get("accuracy") for row in loaded.acc_config.accuracy}
    labels = torch.cat([b.labels for b in batches]).cpu()
    runs: dict[tuple[str, str], _Run] = {}
    with torch.inference_mode():
        for profile in profiles:
            ratios = None if profile.name == "dense" else profile.keep_ratios
            runs["reference", profile.name] = _Run.of([model(b.input_ids, b.attention_mask, b.token_type_ids, keep_ratios=ratios)
                                                       for b in batches], max_length)  # fmt: skip
    variants = [("fused", torch.float16), ("naive", torch.float16), ("fused", torch.float32)]
    if ctx.smoke:
        variants = [("fused", torch.float32), ("naive", torch.float32)]
    rows, skipped = [], []
    for method, dtype in variants:
        name = f"{method}-{str(dtype).replace('torch.float', 'fp')}"
        if ctx.over_budget():
            skipped.append(name)
            continue
        started = time.perf_counter()
        runner = FastAccRunner(to_fast(model, dtype, ctx.device, lse_source=ctx.lse_source), method, buckets,
                               use_graphs=ctx.use_graphs)  # fmt: skip
        for profile in profiles:
            ratios = None if profile.name == "dense" else profile.keep_ratios
            runs[name, profile.name] = _Run.of([runner(b.input_ids, b.attention_mask, b.token_type_ids, ratios)
                                                for b in batches], max_length)  # fmt: skip
            row = {"variant": name, "profile": profile.name, "keep_ratios": list(profile.keep_ratios),
                   "accuracy": runs[name, profile.name].accuracy(labels), "shipped_accuracy": shipped.get(profile.name),
                   "reference_accuracy": runs["reference", profile.name].accuracy(labels),
                   **runs[name, profile.name].agreement(runs["reference", profile.name])}  # fmt: skip
            rows.append(row)
            print(
                {k: row[k] for k in ("variant", "profile", "label_agreement", "accuracy", "kept_set_agreement")},
                flush=True,
            )
        rows[-1]["variant_seconds"] = round(time.perf_counter() - started, 2)
        runner.clear()
        del runner
        if ctx.device == "cuda":
            torch.cuda.empty_cache()
    # Same precision, kernels vs PyTorch ops: isolates what the kernels change from what fp16 changes.
    pairs = [{"a": a, "b": b, "profile": p.name, **runs[a, p.name].agreement(runs[b, p.name])}
             for a, b in (("fused-fp16", "naive-fp16"), ("fused-fp32", "naive-fp32")) for p in profiles
             if (a, p.name) in runs and (b, p.name) in runs]  # fmt: skip
    ref_rows = [{"profile": p.name, "accuracy": runs["reference", p.name].accuracy(labels), "shipped_accuracy": shipped.get(p.name)}
                for p in profiles]  # fmt: skip
    return {"model": ctx.args.model, "examples": int(labels.numel()), "max_length": max_length, "seq_buckets": buckets,
            "reference": ref_rows, "rows": rows, "pairs": pairs, "skipped_variants": skipped,
            "reference_path": "AccBertForSequenceClassification, fp32 eager, dynamic padding"}  # fmt: skip


class _Run:
    """One variant's predictions on the split: logits [E, C] and kept positions [E, layers, width] (sorted, -1 pad)."""

    def __init__(self, logits: Any, kept: Any) -> None:
        self.logits = logits
        self.kept = kept

    @classmethod
    def of(cls, outputs: list, width: int) -> _Run:
        import torch

        logits = torch.cat([o.logits.float().cpu() for o in outputs])
        blocks = []
        for o in outputs:
            layers = []
            for positions, mask in zip(o.kept_positions, o.kept_masks):
                kept = torch.where(mask.cpu() > 0, positions.cpu(), torch.full_like(positions.cpu(), width))
                kept = torch.sort(kept, dim=1).values
                layers.append(torch.nn.functional.pad(kept, (0, width - kept.shape[1]), value=width))
            blocks.append(torch.stack(layers, dim=1))
        return cls(logits, torch.cat(blocks))

    def accuracy(self, labels: Any) -> float:
        return float((self.logits.argmax(dim=-1) == labels).float().mean())

    def agreement(self, other: _Run) -> dict:
        same = (self.kept == other.kept).flatten(1).all(dim=1)
        diff = float((self.logits[same] - other.logits[same]).abs().max()) if bool(same.any()) else float("nan")
        return {"examples": int(same.numel()),
                "label_agreement": float((self.logits.argmax(-1) == other.logits.argmax(-1)).float().mean()),
                "kept_set_agreement": float(same.float().mean()), "max_abs_logit_diff_same_kept": diff}  # fmt: skip


def profile_part(ctx: Any) -> dict:
    """Kernel time per group for eager passes at 32x512 and 1x128 (CUDA graphs replay the same kernels without the
    host launch cost; graph p50 minus summed kernel time is what gaps between kernels cost)."""
    cells = [(2, 16)] if ctx.smoke else [(32, 512), (1, 128)]
    out = {"iters": PROFILE_ITERS, "cells": []}
    for batch, seq in cells:
        if ctx.over_budget():
            out.setdefault("skipped_cells", []).append(f"{batch}x{seq}")
            continue
        out["cells"].append(_profile_cell(ctx, batch, seq))
    return out


def _profile_cell(ctx: Any, batch: int, seq: int) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from acc.modeling.fast import make_plan

    fast, _ = ctx.bert_base()
    ids = torch.randint(1, 999 if ctx.smoke else 30000, (batch, seq), device=ctx.device)
    mask = torch.ones(batch, seq, dtype=torch.long, device=ctx.device)
    top = ctx.profiles()[-1]
    plans = {"dense": make_plan("dense", None, fast.num_layers, seq, padded=False)}
    for method in ("naive", "fused"):
        plans[f"{method}@{top.name}"] = make_plan(method, top.keep_ratios, fast.num_layers, seq, padded=False)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if ctx.device == "cuda" else [])
    out = {"batch": batch, "seq": seq, "candidates": {}}
    for name, plan in plans.items():
        for _ in range(2):
            fast(ids, mask, None, plan)
        _sync(ctx)
        t0 = time.perf_counter()
        with profile(activities=activities) as prof:
            for _ in range(PROFILE_ITERS):
                fast(ids, mask, None, plan)
            _sync(ctx)
        wall_ms = (time.perf_counter() - t0) * 1e3 / PROFILE_ITERS
        out["candidates"][name] = {"eager_wall_ms_per_pass": wall_ms, **_kernel_summary(prof, ctx.device == "cuda")}
        summary = out["candidates"][name]
        print(f"{batch}x{seq} {name}: {summary['kernels_per_pass']:.0f} kernels, {summary['device_us_per_pass']:.0f} us",
              {k: round(v, 1) for k, v in summary["groups_us_per_pass"].items()}, flush=True)  # fmt: skip
    return out


def _sync(ctx: Any) -> None:
    import torch

    if ctx.device == "cuda":
        torch.cuda.synchronize()


def _kernel_summary(prof: Any, cuda: bool) -> dict:
    """Per kernel name: calls and µs per pass; per group: µs per pass. On CPU (smoke) op self times stand in."""
    from torch.autograd import DeviceType

    per_name: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for event in prof.events():
        if cuda and event.device_type == DeviceType.CUDA:
            duration = event.time_range.elapsed_us()
        elif not cuda and event.device_type == DeviceType.CPU and event.name.startswith("aten::"):
            duration = event.self_cpu_time_total
        else:
            continue
        per_name[event.name][0] += 1
        per_name[event.name][1] += duration
    groups: dict[str, float] = defaultdict(float)
    for name, (_, total) in per_name.items():
        groups[_group(name)] += total / PROFILE_ITERS
    top = sorted(per_name.items(), key=lambda item: -item[1][1])[:25]
    return {"device_us_per_pass": sum(groups.values()), "groups_us_per_pass": dict(groups),
            "kernels_per_pass": sum(calls for calls, _ in per_name.values()) / PROFILE_ITERS,
            "top_kernels": [{"name": n[:160], "group": _group(n), "calls_per_pass": c / PROFILE_ITERS,
                             "us_per_pass": t / PROFILE_ITERS} for n, (c, t) in top]}  # fmt: skip


def _group(name: str) -> str:
    lowered = name.lower()
    for group, patterns in KERNEL_GROUPS:
        if any(p in lowered for p in patterns):
            return group
    return "other"
