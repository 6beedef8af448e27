"""AccScore on the CUDA EP: our kernel (libacc_ort_ops, CUDA build) vs the op's inlined function body.

On the device (after ``source benchmarks/device/env.sh``, onnxruntime-gpu in /tmp/site; see ops_check.sh):
    python benchmarks/device/ops_check.py --library PATH --out "$OUT"
For B=4 N=77 and B=32 N=512 (H=12, dh=64), fp32 and fp16, without and with padding (random lengths, plus holes):
max |Δ| of the finite scores kernel vs body and vs the PyTorch fp32 reference on the GPU, ±inf placement, top-50%
agreement per row, and which EP ran the AccScore node (ORT profile). Then the latency of kernel vs inlined body at
B=32 N=512 H=12 dh=64 fp16 (IO binding, inputs and output on the GPU). Writes ops_check.json and ops_check.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnx import TensorProto

from acc.exporter.acc_score import acc_score_model, acc_score_reference
from acc.exporter.latency import measure_latency

CUDA = "CUDAExecutionProvider"
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # the PyTorch fp32 reference
SHAPES = [(4, 77, 12, 64), (32, 512, 12, 64)]
TIMING_SHAPE = (32, 512, 12, 64)
DTYPES = {"fp32": (TensorProto.FLOAT, np.float32), "fp16": (TensorProto.FLOAT16, np.float16)}


def session(model_bytes: bytes, library: str | None, profile: Path | None = None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if library:
        options.register_custom_ops_library(library)
    if profile is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile)
    return ort.InferenceSession(model_bytes, options, providers=[CUDA, "CPUExecutionProvider"])


def executed_nodes(sess: ort.InferenceSession) -> list[list[str]]:
    events = json.loads(Path(sess.end_profiling()).read_text())
    return sorted({(e["args"].get("op_name"), e["args"].get("provider")) for e in events if e.get("cat") == "Node"})


def make_mask(batch: int, length: int, padded: bool, rng: np.random.Generator) -> np.ndarray:
    mask = np.ones((batch, length), np.int64)
    if padded:
        for b in range(batch):
            mask[b, rng.integers(max(2, length // 4), length + 1):] = 0  # right padding of random length
        holes = rng.random((batch, length)) < 0.1  # and holes anywhere (the contract allows any pattern)
        mask[holes] = 0
    return mask


def compare(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> dict[str, float | bool]:
    finite = np.isfinite(b)
    same_inf = bool(np.array_equal(a[~finite], b[~finite]) and np.isfinite(a[finite]).all())
    diff = float(np.abs(a[finite] - b[finite]).max()) if finite.any() else 0.0
    agree = []
    for row in range(a.shape[0]):
        keep = math.ceil(0.5 * int(mask[row].sum()))
        if keep:
            top_a = set(np.argsort(-a[row], kind="stable")[:keep].tolist())
            top_b = set(np.argsort(-b[row], kind="stable")[:keep].tolist())
            agree.append(len(top_a & top_b) / keep)
    return {"max_abs_diff": diff, "inf_pattern_equal": same_inf, "topk50_agreement_min": float(min(agree, default=1.0)),
            "topk50_agreement_mean": float(np.mean(agree)) if agree else 1.0}  # fmt: skip


def correctness(library: str, work: Path) -> list[dict]:
    rows = []
    for batch, length, heads, head_dim in SHAPES:
        for dtype, (onnx_type, numpy_dtype) in DTYPES.items():
            model = acc_score_model(onnx_type, heads * head_dim, heads, head_dim**-0.5).SerializeToString()
            kernel = session(model, library, work / f"kernel-{batch}-{dtype}")
            body = session(model, None, work / f"body-{batch}-{dtype}")
            for padded in (False, True):
                rng = np.random.default_rng(batch * 1000 + length + padded)
                q, k = (rng.standard_normal((batch, length, heads * head_dim)).astype(numpy_dtype) for _ in range(2))
                m = make_mask(batch, length, padded, rng)
                feeds = {"q": q, "k": k, "m": m}
                out_kernel = kernel.run(None, feeds)[0]
                out_body = body.run(None, feeds)[0]
                with torch.no_grad():
                    ref = acc_score_reference(*(torch.from_numpy(x).to(DEVICE) for x in (q, k, m)), heads, head_dim**-0.5)
                ref = ref.cpu().numpy()
                row = {"batch": batch, "length": length, "heads": heads, "head_dim": head_dim, "dtype": dtype,
                       "padded": padded, "kernel_vs_body": compare(out_kernel, out_body, m),
                       "kernel_vs_torch": compare(out_kernel, ref, m), "body_vs_torch": compare(out_body, ref, m)}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
            nodes_kernel, nodes_body = executed_nodes(kernel), executed_nodes(body)
            for row in rows[-2:]:
                row["kernel_session_nodes"] = nodes_kernel
                row["body_session_node_count"] = len(nodes_body)
                ran = {tuple(node) for node in nodes_kernel}
                row["kernel_on_cuda"] = ("AccScore", CUDA) in ran and not any(op == "Softmax" for op, _ in ran)
    return rows


def bound_runner(sess: ort.InferenceSession, feeds: dict[str, np.ndarray]):
    binding = sess.io_binding()
    device = "cuda" if CUDA == "CUDAExecutionProvider" else "cpu"
    values = {name: ort.OrtValue.ortvalue_from_numpy(x, device, 0) for name, x in feeds.items()}  # keep alive
    for name, value in values.items():
        binding.bind_ortvalue_input(name, value)
    binding.bind_output("s", device, 0)

    def run() -> None:
        sess.run_with_iobinding(binding)  # returns after the stream's work is done

    run.values = values  # type: ignore[attr-defined]
    return run


def timing(library: str, iters: int) -> dict:
    batch, length, heads, head_dim = TIMING_SHAPE
    model = acc_score_model(TensorProto.FLOAT16, heads * head_dim, heads, head_dim**-0.5).SerializeToString()
    rng = np.random.default_rng(0)
    feeds = {"q": rng.standard_normal((batch, length, heads * head_dim)).astype(np.float16),
             "k": rng.standard_normal((batch, length, heads * head_dim)).astype(np.float16),
             "m": np.ones((batch, length), np.int64)}  # fmt: skip
    result = {"shape": {"batch": batch, "length": length, "heads": heads, "head_dim": head_dim}, "dtype": "fp16"}
    for name, lib in (("kernel", library), ("inlined_body", None)):
        run = bound_runner(session(model, lib), feeds)
        stats = measure_latency(run, warmup=10, iters=iters)
        result[name] = {"p50_ms": stats.p50_ms, "p90_ms": stats.p90_ms, "mean_ms": stats.mean_ms, "iters": stats.iters}
        print(name, result[name], flush=True)
    result["speedup_p50"] = result["inlined_body"]["p50_ms"] / result["kernel"]["p50_ms"]
    return result


def markdown(report: dict) -> str:
    lines = [f"# AccScore on {report['gpu']} — onnxruntime {report['onnxruntime']}", "",
             f"Library: `{report['library']}` ({report['library_origin']}).", "",
             "| B | N | dtype | padded | AccScore EP | max Δ kernel–body | max Δ kernel–torch | ±inf equal | top-50% agree (min) |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in report["correctness"]:
        kb, kt = row["kernel_vs_body"], row["kernel_vs_torch"]
        ep = "CUDA" if row.get("kernel_on_cuda") else str(row.get("kernel_session_nodes"))
        lines.append(f"| {row['batch']} | {row['length']} | {row['dtype']} | {row['padded']} | {ep} | {kb['max_abs_diff']:.2e} "
                     f"| {kt['max_abs_diff']:.2e} | {kb['inf_pattern_equal'] and kt['inf_pattern_equal']} "
                     f"| {kb['topk50_agreement_min']:.3f} |")  # fmt: skip
    t = report.get("timing")
    if t:
        sh = t["shape"]
        lines += ["", f"Latency, B={sh['batch']} N={sh['length']} H={sh['heads']} dh={sh['head_dim']} fp16 (IO binding, {t['kernel']['iters']} runs): kernel p50 "
                  f"{t['kernel']['p50_ms']:.3f} ms, inlined body p50 {t['inlined_body']['p50_ms']:.3f} ms "
                  f"({t['speedup_p50']:.2f}x)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--library", required=True)
    parser.add_argument("--library-origin", default="built on the device")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--iters", type=int, default=50)
    args = parser.parse_args()
    if hasattr(ort, "preload_dlls"):
        ort.preload_dlls()
    if CUDA not in ort.get_available_providers():
        print(f"error: onnxruntime {ort.__version__} has no CUDA EP; install onnxruntime-gpu", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path("/tmp/ops-check")
    work.mkdir(exist_ok=True)
    report = {"schema_version": 1, "utc": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), "onnxruntime": ort.__version__,
              "gpu": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu", "library": args.library, "library_origin": args.library_origin}  # fmt: skip
    try:
        report["correctness"] = correctness(args.library, work)
        report["timing"] = timing(args.library, args.iters)
    finally:
        (args.out / "ops_check.json").write_text(json.dumps(report, indent=1))
        (args.out / "ops_check.md").write_text(markdown(report) if "correctness" in report else "incomplete\n")
    print(markdown(report))
    ok = all(r.get("kernel_on_cuda") and r["kernel_vs_body"]["inf_pattern_equal"] and r["kernel_vs_body"]["max_abs_diff"] < 1e-4
             for r in report["correctness"])  # fmt: skip
    print("OPS CHECK", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
