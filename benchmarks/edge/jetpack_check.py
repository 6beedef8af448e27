"""On a Jetson: TensorRT engines from a bundle, validated against its ONNX graphs, and a latency table.

**Not run on a Jetson** (none reachable from where this was written). Every acc-deploy call here is one the test
suite runs (``acc.exporter.engines.build_engines`` / ``engine_target`` / ``ShapeRanges``, the builder that
``acc-export --engine trt`` uses and that built real TensorRT-RTX engines on an H100; ``acc.runtime.trt_backend.
TrtBackend``; ``TextEncoder``, ``read_manifest``, ``load_sst2``); the rest is ONNX Runtime's and TensorRT's public
API. ``benchmarks/edge/jetpack.sh`` checks the JetPack install and calls this.

    python benchmarks/edge/jetpack_check.py bundles/bert-sst2 --out results/jetson --precisions fp16 \
        --engine-batch 1,4,8 --engine-seq 16,64,128 --max-examples 200

Steps: (1) copy the bundle's graphs to a work directory and build one engine per profile and precision there
(the bundle itself is not modified: its manifest hashes stay valid); (2) for each engine, SST-2 dev sentences
through the engine and through ONNX Runtime on the same ONNX graph: label agreement and max |Δlogits|;
(3) p50/p90 latency of each engine and of ONNX Runtime (CUDA EP when onnxruntime-gpu sees the GPU, else CPU) at
batch x length cells inside the engine range. Writes jetson-check.json / .md under --out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="bundle directory written by acc-export (copied from any machine)")
    parser.add_argument("--out", type=Path, required=True, help="folder for jetson-check.json / .md")
    parser.add_argument("--precisions", default="fp16", help="engine precisions: fp16, fp32 or fp16,fp32")
    parser.add_argument("--engine-batch", default="1,4,8", help="engine batch range min,opt,max")
    parser.add_argument("--engine-seq", default="16,64,128", help="engine length range min,opt,max")
    parser.add_argument("--data-dir", default=None, help="SST-2 folder (default: the package's, or ACC_DATA_DIR)")
    parser.add_argument("--max-examples", type=int, default=200, help="SST-2 dev sentences validated per engine")
    parser.add_argument("--cells", default="1x64,1x128,4x64,4x128", help="latency cells batch x length")
    parser.add_argument("--iters", type=int, default=50, help="timed runs per engine and cell")
    parser.add_argument("--work", type=Path, default=None, help="where engines are built (default: a temp dir)")
    return parser.parse_args(argv)


def ort_session(graph: Path):
    """ONNX Runtime on the bundle graph: CUDA EP when available (JetPack's onnxruntime-gpu), else CPU."""
    import onnxruntime

    providers = [
        p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in onnxruntime.get_available_providers()
    ]
    return onnxruntime.InferenceSession(str(graph), providers=providers)


def pad_to(feeds: dict[str, np.ndarray], length: int, pad_id: int) -> dict[str, np.ndarray]:
    """Right-pad [batch, seq] feeds to ``length`` (the engine's minimum): padding is masked, answers unchanged."""
    extra = length - feeds["input_ids"].shape[1]
    if extra <= 0:
        return feeds
    values = {"input_ids": pad_id, "attention_mask": 0, "token_type_ids": 0}
    return {name: np.pad(array, ((0, 0), (0, extra)), constant_values=values[name]) for name, array in feeds.items()}


def validate(backend, session, encoder, texts: list[str], min_seq: int, max_batch: int) -> dict:
    """Engine vs ONNX Runtime on the same graph: label agreement and max |Δlogits| over ``texts``."""
    agree, total, max_diff = 0, 0, 0.0
    for start in range(0, len(texts), max_batch):
        feeds = pad_to(encoder.encode(texts[start : start + max_batch]).feeds(), min_seq, encoder.pad_id)
        engine_logits = backend.infer(feeds)["logits"].astype(np.float32)
        onnx_logits = session.run(["logits"], feeds)[0].astype(np.float32)
        agree += int((engine_logits.argmax(-1) == onnx_logits.argmax(-1)).sum())
        total += len(feeds["input_ids"])
        max_diff = max(max_diff, float(np.abs(engine_logits - onnx_logits).max()))
    return {"examples": total, "label_agreement": agree / total, "max_abs_logit_diff": max_diff}


def time_cells(run, cells: list[tuple[int, int]], vocab: int, iters: int) -> dict[str, float]:
    """p50 ms per ``"BxS"`` cell of ``run(feeds)``, full-length random inputs (seeded)."""
    from acc.exporter.latency import LatencyStats

    rng = np.random.default_rng(0)
    out = {}
    for batch, seq in cells:
        feeds = {"input_ids": rng.integers(1000, vocab, (batch, seq), dtype=np.int64),
                 "attention_mask": np.ones((batch, seq), np.int64), "token_type_ids": np.zeros((batch, seq), np.int64)}  # fmt: skip
        for _ in range(5):
            run(feeds)
        samples = []
        for _ in range(iters):
            started = time.perf_counter()
            run(feeds)
            samples.append((time.perf_counter() - started) * 1e3)
        out[f"{batch}x{seq}"] = LatencyStats.from_samples(samples, 5).p50_ms
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from acc.exporter.engines import (
        ShapeRanges,
        build_engines,
        engine_target,
        parse_precisions,
    )
    from acc.modeling.data import load_sst2
    from acc.runtime import TextEncoder, read_manifest
    from acc.runtime.trt_backend import TrtBackend

    manifest = read_manifest(args.bundle)  # verifies every file's sha256 before anything is built from it
    shapes = ShapeRanges.parse(args.engine_batch, args.engine_seq)
    cells = [tuple(int(x) for x in cell.split("x")) for cell in args.cells.split(",")]
    outside = [
        c for c in cells if not (shapes.batch[0] <= c[0] <= shapes.batch[2] and shapes.seq[0] <= c[1] <= shapes.seq[2])
    ]
    if outside:
        print(f"error: cells {outside} are outside --engine-batch {args.engine_batch} / --engine-seq {args.engine_seq}; "
              "widen the engine range or pass --cells inside it", file=sys.stderr)  # fmt: skip
        return 2
    target = engine_target()
    print(f"TensorRT {target.trt_version} ({target.backend}), GPU {target.device_compute_capability}", flush=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="acc-jetson-"))
    shutil.copytree(args.bundle / "graphs", work / "graphs", dirs_exist_ok=True)
    profiles = [p.name for p in manifest.profiles]
    started = time.perf_counter()
    records = build_engines(work, profiles, parse_precisions(args.precisions), shapes, progress=print, target=target)
    build_s = time.perf_counter() - started

    encoder = TextEncoder(manifest.path(manifest.tokenizer), manifest.model.max_length)
    texts = load_sst2("dev", args.data_dir).texts[: args.max_examples]
    report = {"bundle": str(args.bundle), "trt_version": target.trt_version, "backend": target.backend,
              "compute_capability": target.device_compute_capability, "shapes": shapes.to_dict(),
              "build_seconds": round(build_s, 1), "engines": [], "onnxruntime": {}}  # fmt: skip
    for record in records:
        graph = args.bundle / manifest.profile(record.profile).graph
        backend = TrtBackend(work / record.file, record)
        session = ort_session(graph)
        row = {"profile": record.profile, "precision": record.precision, "file": record.file,
               "engine_mb": round((work / record.file).stat().st_size / 2**20, 1), "build_seconds": record.build_seconds,
               **validate(backend, session, encoder, texts, shapes.seq[0], shapes.batch[2]),
               "p50_ms": time_cells(backend.infer, cells, encoder.vocab_size, args.iters)}  # fmt: skip
        if record.profile not in report["onnxruntime"]:
            report["onnxruntime"][record.profile] = {
                "providers": session.get_providers(),
                "p50_ms": time_cells(lambda f, s=session: s.run(["logits"], f), cells, encoder.vocab_size, args.iters),
            }
        report["engines"].append(row)
        print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "jetson-check.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "jetson-check.md").write_text(markdown(report, cells))
    print(markdown(report, cells))
    return 0 if all(r["label_agreement"] >= 0.99 for r in report["engines"]) else 1


def markdown(report: dict, cells: list[tuple[int, int]]) -> str:
    names = [f"{b}x{s}" for b, s in cells]
    lines = [f"# Jetson check: TensorRT {report['trt_version']} on {report['compute_capability']}", "",
             f"Engines built in {report['build_seconds']} s, shapes {report['shapes']}.", "",
             "| engine | MB | agree vs ONNX | max abs logit diff | " + " | ".join(f"p50 ms {n}" for n in names) + " |",
             "|---|---|---|---|" + "---|" * len(names)]  # fmt: skip
    for row in report["engines"]:
        lines.append(f"| {row['profile']} {row['precision']} | {row['engine_mb']} | {row['label_agreement']:.2%} "
                     f"| {row['max_abs_logit_diff']:.1e} | " + " | ".join(f"{row['p50_ms'][n]:.2f}" for n in names) + " |")  # fmt: skip
    for profile, ort in report["onnxruntime"].items():
        lines.append(f"| ONNX Runtime {profile} ({ort['providers'][0]}) | | | | "
                     + " | ".join(f"{ort['p50_ms'][n]:.2f}" for n in names) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
