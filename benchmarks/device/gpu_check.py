"""GPU check on the device machine: ORT CUDA EP vs ORT CPU on a bundle, then CUDA latency vs the dense baseline.

Run from the repo root on the GPU machine (after ``source benchmarks/device/env.sh`` and onnxruntime-gpu install):

    python benchmarks/device/gpu_check.py --bundle B --out $OUT/h100-check.json [--latency-only] [--name N]

(a) Agreement on SST-2 dev (all 872): per graph, label agreement CUDA vs CPU, logits max |diff| over samples whose
    kept sets agree, the fraction of samples whose kept set differs per layer (top-k near-ties flip on GPU), and
    accuracy on CUDA. (b) Latency on CUDA EP, fp32, round-robin per (batch, seq) cell over: the ORT-optimized dense
    baseline (fused Attention), the bundle's dense graph, every profile graph, the adjustable graph at each
    profile. Speedups are p50 ratios inside one cell of one run. Numbers only; pass/fail is the reader's call.
The pass/fail verdict of (a) is a test: ``pytest -m gpu tests/gpu/test_gpu_agreement.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _session(path: Path, device: str):  # noqa: ANN202
    from acc.runtime.session import OrtBackend

    return OrtBackend(path, device=device)._session  # noqa: SLF001 - the raw session: no per-call checks in timing


def agreement(bundle: Path, data_dir: str | None, device: str = "cuda") -> list[dict]:
    from transformers import AutoTokenizer

    from acc.exporter.validate import sst2_batches
    from acc.modeling.data import load_sst2
    from acc.runtime import read_manifest

    manifest = read_manifest(bundle)
    tokenizer = AutoTokenizer.from_pretrained(str(bundle / "tokenizer"))
    split = load_sst2("dev", data_dir)
    batches = list(sst2_batches(split, tokenizer, 32, 128))
    jobs = [(p.name, bundle / p.graph, None) for p in manifest.profiles]
    if manifest.adjustable is not None:
        jobs += [
            (f"adjustable@{p.name}", bundle / manifest.adjustable.graph, p.profile.keep_ratios)
            for p in manifest.profiles
            if p.name != "dense"
        ]
    rows = []
    for name, graph, ratios in jobs:
        cpu, gpu = _session(graph, "cpu"), _session(graph, device)
        outputs = [o.name for o in gpu.get_outputs()]
        flips = {o: 0 for o in outputs if o.startswith("kept_index_")}
        agree = correct = total = 0
        max_diff = 0.0
        for batch in batches:
            feeds = dict(batch.feeds)
            if ratios is not None:
                feeds["keep_ratios"] = np.asarray(ratios, dtype=np.float32)
            a = dict(zip(outputs, cpu.run(outputs, feeds)))
            b = dict(zip(outputs, gpu.run(outputs, feeds)))
            flipped = np.zeros(len(a["logits"]), dtype=bool)
            for o in flips:
                differs = (np.sort(a[o], 1) != np.sort(b[o], 1)).any(1) if a[o].shape == b[o].shape else ~flipped
                flips[o] += int(differs.sum())
                flipped |= differs
            if (~flipped).any():
                max_diff = max(max_diff, float(np.abs(a["logits"][~flipped] - b["logits"][~flipped]).max()))
            agree += int((a["logits"].argmax(1) == b["logits"].argmax(1)).sum())
            correct += int((b["logits"].argmax(1) == batch.labels).sum())
            total += len(batch.labels)
        rows.append(
            {
                "graph": name,
                "examples": total,
                "label_agreement": agree / total,
                "cuda_accuracy": correct / total,
                "max_abs_diff_unflipped": max_diff,
                "flip_rate": {o: n / total for o, n in flips.items()},
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def latency(
    bundle: Path, batches: list[int], seqs: list[int], iters: int, baseline_source: str | None, device: str = "cuda"
) -> tuple[list[dict], dict]:
    from acc.exporter.dense_baseline import export_dense_baseline
    from acc.exporter.latency import measure_latency
    from acc.profiles import EncoderShape, theoretical_speedup
    from acc.runtime import read_manifest
    from acc.runtime.timing import full_length_feeds

    manifest = read_manifest(bundle)
    card = manifest.model
    shape = EncoderShape(card.num_layers, card.hidden_size, card.intermediate_size, card.num_heads)
    candidates = []  # (label, session, keep_ratios for the feed or None, ratios for theory)
    source = baseline_source or manifest.model.source
    baseline = export_dense_baseline(source, bundle.parent / f"{bundle.name}-baseline")
    candidates.append(("baseline", _session(baseline.path, device), None, [1.0] * shape.num_layers))
    for p in manifest.profiles:
        candidates.append((p.name, _session(bundle / p.graph, device), None, list(p.profile.keep_ratios)))
    if manifest.adjustable is not None:
        adjustable = _session(bundle / manifest.adjustable.graph, device)
        candidates += [
            (f"adjustable@{p.name}", adjustable, list(p.profile.keep_ratios), list(p.profile.keep_ratios))
            for p in manifest.profiles
            if p.name != "dense"
        ]
    rows = []
    for batch in batches:
        for seq in seqs:
            feeds = full_length_feeds(batch, seq, 30000)
            cell = {}
            for label, session, feed_ratios, ratios in candidates:
                f = dict(feeds)
                if feed_ratios is not None:
                    f["keep_ratios"] = np.asarray(feed_ratios, dtype=np.float32)
                stats = measure_latency(
                    lambda s=session, f=f: s.run(["logits"], f), warmup=3, iters=iters, max_seconds=20
                )
                cell[label] = (stats, theoretical_speedup(ratios, shape, seq))
            base = cell["baseline"][0].p50_ms
            dense = cell["dense"][0].p50_ms
            for label, (stats, theory) in cell.items():
                rows.append(
                    {
                        "candidate": label,
                        "batch": batch,
                        "seq": seq,
                        "p50_ms": stats.p50_ms,
                        "p99_ms": stats.p99_ms,
                        "iters": stats.iters,
                        "speedup_vs_baseline": base / stats.p50_ms,
                        "speedup_vs_bundle_dense": dense / stats.p50_ms,
                        "theoretical_speedup": theory,
                    }
                )
            print(
                f"b{batch} s{seq}: "
                + "  ".join(
                    f"{r['candidate']} {r['p50_ms']:.2f}ms x{r['speedup_vs_baseline']:.2f}" for r in rows[-len(cell) :]
                ),
                flush=True,
            )
    return rows, baseline.to_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--latency-only", action="store_true")
    parser.add_argument("--batches", default="1,8,32,128")
    parser.add_argument("--seqs", default="128,256,512")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--baseline-source", default=None)
    parser.add_argument("--device", default="cuda", help="device compared with / timed (cpu for a local dry run)")
    args = parser.parse_args(argv)
    import onnxruntime
    import torch

    started = time.time()
    result = {
        "schema_version": 1,
        "name": args.name or args.bundle.name,
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "onnxruntime": onnxruntime.__version__,
        "providers": onnxruntime.get_available_providers(),
        "precision": "fp32",
        "latency_only": args.latency_only,
    }
    if not args.latency_only:
        result["agreement"] = agreement(args.bundle, args.data_dir, args.device)
    result["latency"], result["baseline"] = latency(
        args.bundle,
        [int(b) for b in args.batches.split(",")],
        [int(s) for s in args.seqs.split(",")],
        args.iters,
        args.baseline_source,
        args.device,
    )
    result["seconds"] = time.time() - started
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
