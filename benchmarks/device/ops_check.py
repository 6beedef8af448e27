"""AccScore on the CUDA EP: our kernel (libacc_ort_ops, CUDA build) vs the op's inlined function body.

On the device (after ``source benchmarks/device/env.sh``, onnxruntime-gpu in /tmp/site; see ops_check.sh):
    python benchmarks/device/ops_check.py --library PATH --out "$OUT"
For B=4 N=77, B=8 N=128 and B=32 N=512 (H=12, dh=64) and small shapes with head sizes 16/36/40/128, fp32 and fp16,
without and with padding (random lengths, plus holes): max |Δ| of the finite scores kernel vs body and vs the
PyTorch fp32 reference on the GPU, ±inf placement, top-50% agreement per row, and which EP ran the AccScore node
(ORT profile). fp16 runs the tensor-core (WMMA) kernels; the same session is run again with ACC_ORT_OPS_CUDA_FMA=1
(fp32 FMA kernels, the fp32-input path) and both are compared. Then latency (IO binding, inputs and output on the
GPU) of the kernel (WMMA and FMA for fp16), and the inlined body, at fp16 B=32 N=512 / B=8 N=128 and fp32 B=32
N=512, plus the GPU time of the op's kernels per call from CUPTI (torch.profiler), when it sees ORT's launches.
Writes ops_check.json and ops_check.md; prints OPS CHECK PASSED/FAILED.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from acc.exporter.acc_score import acc_score_model, acc_score_reference
from acc.exporter.latency import measure_latency
from onnx import TensorProto

CUDA = "CUDAExecutionProvider"
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # the PyTorch fp32 reference
# (B, N, H, dh): BERT shapes, then N off the 16/64 grid with head sizes padded to 64 (40: 16-byte loads, 36: scalar
# loads), 32 (16) and 128 (> 48 KiB shared memory).
SHAPES = [(4, 77, 12, 64), (8, 128, 12, 64), (32, 512, 12, 64), (3, 77, 4, 40), (2, 50, 6, 36), (2, 33, 8, 16),
          (2, 100, 2, 128)]  # fmt: skip
TIMING_CASES = [("fp16", 32, 512, 12, 64), ("fp16", 8, 128, 12, 64), ("fp32", 32, 512, 12, 64)]
DTYPES = {"fp32": (TensorProto.FLOAT, np.float32), "fp16": (TensorProto.FLOAT16, np.float16)}
FMA_ENV = "ACC_ORT_OPS_CUDA_FMA"  # read by the library at every launch: 1 = fp32 FMA kernels for fp16 too
WMMA_MAX_HEAD_DIM = 128
WMMA_VS_FMA_MAX_REL = 1e-4  # fp16 products are exact in fp32: only the summation order differs (~1e-6 expected)


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


@contextlib.contextmanager
def fma_kernels(on: bool = True):
    """Within: the library runs its fp32 FMA kernels for fp16 inputs too (it reads the variable at every launch)."""
    if not on:
        yield
        return
    os.environ[FMA_ENV] = "1"
    try:
        yield
    finally:
        os.environ.pop(FMA_ENV, None)


def compare(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> dict[str, float | bool]:
    finite = np.isfinite(b)
    same_inf = bool(np.array_equal(a[~finite], b[~finite]) and np.isfinite(a[finite]).all())
    diff = float(np.abs(a[finite] - b[finite]).max()) if finite.any() else 0.0
    scale = float(np.abs(b[finite]).max()) if finite.any() else 0.0
    agree = []
    for row in range(a.shape[0]):
        keep = math.ceil(0.5 * int(mask[row].sum()))
        if keep:
            top_a = set(np.argsort(-a[row], kind="stable")[:keep].tolist())
            top_b = set(np.argsort(-b[row], kind="stable")[:keep].tolist())
            agree.append(len(top_a & top_b) / keep)
    return {"max_abs_diff": diff, "max_rel_diff": diff / scale if scale > 0 else 0.0, "inf_pattern_equal": same_inf, "topk50_agreement_min": float(min(agree, default=1.0)),
            "topk50_agreement_mean": float(np.mean(agree)) if agree else 1.0}  # fmt: skip


def correctness(library: str, work: Path) -> list[dict]:
    rows = []
    for batch, length, heads, head_dim in SHAPES:
        for dtype, (onnx_type, numpy_dtype) in DTYPES.items():
            model = acc_score_model(onnx_type, heads * head_dim, heads, head_dim**-0.5).SerializeToString()
            tag = f"{batch}x{length}x{heads}x{head_dim}-{dtype}"
            kernel = session(model, library, work / f"kernel-{tag}")
            body = session(model, None, work / f"body-{tag}")
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
                wmma = dtype == "fp16" and head_dim <= WMMA_MAX_HEAD_DIM
                row = {"batch": batch, "length": length, "heads": heads, "head_dim": head_dim, "dtype": dtype,
                       "padded": padded, "path": "wmma" if wmma else "fma", "kernel_vs_body": compare(out_kernel, out_body, m),
                       "kernel_vs_torch": compare(out_kernel, ref, m), "body_vs_torch": compare(out_body, ref, m)}  # fmt: skip
                if wmma:
                    with fma_kernels():
                        out_fma = kernel.run(None, feeds)[0]
                    row["wmma_vs_fma"] = compare(out_kernel, out_fma, m)
                    row["fma_vs_torch"] = compare(out_fma, ref, m)
                rows.append(row)
                print(json.dumps(row), flush=True)
            nodes_kernel, nodes_body = executed_nodes(kernel), executed_nodes(body)
            for row in rows[-2:]:  # the two mask patterns of this shape and dtype
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


def gpu_time_us(run, iters: int) -> dict[str, float] | None:
    """GPU µs per call from CUPTI (torch.profiler sees every launch of the process, ORT's included): each acc_ops
    kernel, their ``total``, and ``all`` GPU activity. None when the profiler fails or records nothing."""
    from torch.profiler import ProfilerActivity, profile

    try:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(iters):
                run()
            torch.cuda.synchronize()
        events = prof.key_averages()
    except Exception as exc:  # noqa: BLE001 (a profiler that cannot start is reported, not fatal)
        print(f"cupti: profiler failed ({exc})", flush=True)
        return None
    times: dict[str, float] = {"all": 0.0}
    for event in events:
        us = float(getattr(event, "self_device_time_total", 0.0) or 0.0) / iters
        times["all"] += us
        if "acc_ops" in event.key:
            name = event.key.replace("(anonymous namespace)::", "").split("(")[0].split("::")[-1]
            times[name] = times.get(name, 0.0) + us
    if times["all"] == 0.0:
        return None
    times["total"] = sum(us for name, us in times.items() if name != "all")
    return times


def timing(library: str, iters: int) -> list[dict]:
    """Latency of the kernel (fp16: WMMA and FMA) and the inlined body for TIMING_CASES, no padding."""
    results = []
    for dtype, batch, length, heads, head_dim in TIMING_CASES:
        onnx_type, numpy_dtype = DTYPES[dtype]
        model = acc_score_model(onnx_type, heads * head_dim, heads, head_dim**-0.5).SerializeToString()
        rng = np.random.default_rng(0)
        feeds = {"q": rng.standard_normal((batch, length, heads * head_dim)).astype(numpy_dtype),
                 "k": rng.standard_normal((batch, length, heads * head_dim)).astype(numpy_dtype),
                 "m": np.ones((batch, length), np.int64)}  # fmt: skip
        result = {"shape": {"batch": batch, "length": length, "heads": heads, "head_dim": head_dim}, "dtype": dtype,
                  "kernel_path": "wmma" if dtype == "fp16" and head_dim <= WMMA_MAX_HEAD_DIM else "fma"}  # fmt: skip
        kernel_run = bound_runner(session(model, library), feeds)
        variants = [("kernel", kernel_run, False)]
        if dtype == "fp16":
            variants.append(("kernel_fma", kernel_run, True))
        variants.append(("inlined_body", bound_runner(session(model, None), feeds), False))
        for name, run, fma in variants:
            with fma_kernels(fma):
                stats = measure_latency(run, warmup=10, iters=iters)
                gpu = gpu_time_us(run, 20)
            result[name] = {"p50_ms": stats.p50_ms, "p90_ms": stats.p90_ms, "mean_ms": stats.mean_ms,
                            "iters": stats.iters, "gpu_us_per_call": gpu}  # fmt: skip
            print(dtype, batch, length, name, result[name], flush=True)
        result["speedup_p50_vs_body"] = result["inlined_body"]["p50_ms"] / result["kernel"]["p50_ms"]
        if "kernel_fma" in result:
            result["speedup_p50_wmma_vs_fma"] = result["kernel_fma"]["p50_ms"] / result["kernel"]["p50_ms"]
        results.append(result)
    return results


def _us(entry: dict, key: str = "total") -> str:
    gpu = entry.get("gpu_us_per_call")
    return f"{gpu[key]:.0f}" if gpu and gpu.get(key) else "n/a"


def markdown(report: dict) -> str:
    lines = [f"# AccScore on {report['gpu']} — onnxruntime {report['onnxruntime']}", "",
             f"Library: `{report['library']}` ({report['library_origin']}).", "",
             ("| B | N | H×dh | dtype | path | padded | AccScore EP | max Δ kernel–body | max Δ kernel–torch | rel Δ WMMA–FMA "
              "| ±inf equal | top-50% agree vs torch (min) |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in report["correctness"]:
        kb, kt = row["kernel_vs_body"], row["kernel_vs_torch"]
        ep = "CUDA" if row.get("kernel_on_cuda") else str(row.get("kernel_session_nodes"))
        wf = f"{row['wmma_vs_fma']['max_rel_diff']:.1e}" if "wmma_vs_fma" in row else "–"
        lines.append(f"| {row['batch']} | {row['length']} | {row['heads']}×{row['head_dim']} | {row['dtype']} | {row['path']} "
                     f"| {row['padded']} | {ep} | {kb['max_abs_diff']:.2e} | {kt['max_abs_diff']:.2e} | {wf} "
                     f"| {kb['inf_pattern_equal'] and kt['inf_pattern_equal']} | {kt['topk50_agreement_min']:.3f} |")  # fmt: skip
    if report.get("timing"):
        lines += ["", ("Latency p50 (ms, IO binding, ORT overhead included); in brackets GPU µs per call from CUPTI "
                       "(kernel: the op's kernels; body: all its GPU work; n/a: not captured):"), "",
                  "| dtype | B | N | kernel path | kernel ms (GPU µs) | FMA kernel ms (GPU µs) | inlined body ms (GPU µs) | vs body |",
                  "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for t in report["timing"]:
            sh, fma = t["shape"], t.get("kernel_fma")
            fma_cell = f"{fma['p50_ms']:.3f} ({_us(fma)})" if fma else "–"
            lines.append(f"| {t['dtype']} | {sh['batch']} | {sh['length']} | {t['kernel_path']} | {t['kernel']['p50_ms']:.3f} "
                         f"({_us(t['kernel'])}) | {fma_cell} | {t['inlined_body']['p50_ms']:.3f} ({_us(t['inlined_body'], 'all')}) "
                         f"| {t['speedup_p50_vs_body']:.2f}x |")  # fmt: skip
    return "\n".join(lines) + "\n"


def passed(report: dict) -> bool:
    """Kernel on the CUDA EP, same ±inf as the body, within 1e-4 of it; fp16: WMMA within 1e-4 relative of FMA."""
    return all(r.get("kernel_on_cuda") and r["kernel_vs_body"]["inf_pattern_equal"] and r["kernel_vs_body"]["max_abs_diff"] < 1e-4
               and ("wmma_vs_fma" not in r or (r["wmma_vs_fma"]["inf_pattern_equal"]
                                               and r["wmma_vs_fma"]["max_rel_diff"] < WMMA_VS_FMA_MAX_REL))
               for r in report["correctness"])  # fmt: skip


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
    torch.backends.cuda.matmul.allow_tf32 = False  # the reference in true fp32
    os.environ.pop(FMA_ENV, None)
    report = {"schema_version": 2, "utc": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), "onnxruntime": ort.__version__,
              "gpu": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu", "library": args.library, "library_origin": args.library_origin}  # fmt: skip
    try:
        report["correctness"] = correctness(args.library, work)
        report["timing"] = timing(args.library, args.iters)
    finally:
        (args.out / "ops_check.json").write_text(json.dumps(report, indent=1))
        (args.out / "ops_check.md").write_text(markdown(report) if "correctness" in report else "incomplete\n")
    print(markdown(report))
    ok = passed(report)
    print("OPS CHECK", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
