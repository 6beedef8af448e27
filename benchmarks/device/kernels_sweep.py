"""Sweep of the fused ACC kernels' launch choices on the GPU, old kernels (commit 1d82379) vs new (issue #9).

Per cell B×N (H=12, head dim 64, hidden 768, fp16, one sample right-padded to 3/4): times every candidate column-sum
tile config and selection config, plus the old kernels and the defaults of ``acc.modeling.kernels.tuning``, each
call captured in a CUDA graph (``triton.testing.do_bench_cudagraph``: GPU time as in the model's graphs, no Python
launch cost). Checks every candidate's output: column sums vs the fp32 reference, selections slot for slot vs the
old kernel and ``select_ranked``. Writes <out>/kernels_sweep.json and .md (atomically).

    python benchmarks/device/kernels_sweep.py --out $OUT                 # H100, about 2-3 min
    python benchmarks/device/kernels_sweep.py --smoke --out /tmp/sweep    # CPU, Triton interpreter, tiny shapes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HEADS, HEAD_DIM, WIDTH = 12, 64, 768
RATIO = 0.5  # keep half: slots = keep count at N, as a plan's first selection
COLUMN_CANDIDATES = [(64, 32, 4, 2), (64, 64, 4, 2), (64, 64, 4, 3), (64, 128, 8, 3), (64, 128, 4, 3), (128, 64, 8, 3),
                     (128, 128, 8, 3), (32, 64, 4, 2), (32, 128, 4, 3), (64, 128, 8, 4)]  # fmt: skip
SELECT_CANDIDATES = [  # (split, radix, warps, block_d, block_s)
    (False, 4, 4, 32, 32), (False, 4, 4, 64, 32), (False, 2, 4, 64, 32), (False, 4, 8, 128, 32), (False, 2, 8, 256, 32),
    (True, 4, 4, 256, 32), (True, 2, 8, 256, 32), (True, 4, 4, 128, 16), (True, 2, 4, 128, 64), (True, 4, 8, 256, 64),
]  # fmt: skip


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for kernels_sweep.json and .md")
    parser.add_argument("--cells", default=None, help="batch x seq cells (default 1x128,8x128,32x512,128x512)")
    parser.add_argument("--rep-ms", type=float, default=20.0, help="do_bench_cudagraph time per candidate")
    parser.add_argument("--budget-s", type=float, default=200.0, help="start no new cell after this")
    parser.add_argument("--smoke", action="store_true", help="CPU, Triton interpreter, tiny shapes, no timing")
    args = parser.parse_args(argv)
    if args.cells is None:
        args.cells = "2x24,1x16" if args.smoke else "1x128,8x128,32x512,128x512"
    return args


def _cell_inputs(batch: int, n: int, device: str, dtype):  # noqa: ANN202 - tensors
    import torch

    g = torch.Generator().manual_seed(batch * 1000 + n)
    heads, head_dim, width = (2, 16, 24) if device == "cpu" else (HEADS, HEAD_DIM, WIDTH)
    # q and k as the encoder has them: strided views of one [B, N, 3, H, dh] QKV projection
    qkv = torch.randn(batch, n, 3, heads, head_dim, generator=g).to(device, dtype)
    q, k, _ = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    mask = torch.ones(batch, n, dtype=torch.long)
    mask[-1, n - n // 4 :] = 0 if batch > 1 else 1
    hidden = torch.randn(batch, n, width, generator=g).to(device, dtype)
    positions = torch.arange(n)[None, :].expand(batch, n)
    return q, k, mask.to(device), hidden, positions.to(device), head_dim**-0.5


def _timer(smoke: bool, rep_ms: float):  # noqa: ANN202 - fn -> µs (None in smoke mode)
    if smoke:
        return lambda fn: (fn(), None)[1]
    import triton.testing

    def time_us(fn) -> float:  # noqa: ANN001
        fn()  # compile outside the capture
        return 1000.0 * triton.testing.do_bench_cudagraph(fn, rep=rep_ms, return_mode="median")

    return time_us


def sweep_cell(batch: int, n: int, device: str, dtype, time_us, log) -> dict:  # noqa: ANN001
    import kernels_legacy as legacy
    import torch

    from acc.modeling.kernels import column_sums, column_sums_reference, row_lse, select_fused, select_ranked, tuning
    from acc.profiles import keep_count

    q, k, mask, hidden, positions, scale = _cell_inputs(batch, n, device, dtype)
    lse = row_lse(q, k, mask, scale, backend="triton")
    reference = column_sums_reference(q, k, lse, mask, scale)
    peak = float(reference.abs().max())
    rows = []

    def column_row(label: str, fn) -> torch.Tensor:  # noqa: ANN001
        out = fn()
        err = float((out - reference).abs().max()) / peak
        rows.append({"kernel": "column_sums", "config": label, "us": time_us(fn), "ok": err <= 1e-3, "rel_err": err})
        log(f"  column {label:>22}: {rows[-1]['us'] or 0:8.1f} µs  err {err:.1e}")
        return out

    partial = column_row("old", lambda: legacy.column_sums(q, k, lse, mask, scale))
    default = tuning.column_config(batch, q.shape[1], n)
    column_row(f"default {default.label()}", lambda: column_sums(q, k, lse, mask, scale, backend="triton"))
    for bi, bj, warps, stages in COLUMN_CANDIDATES:
        if device == "cpu" and (bi, bj) != (64, 32):
            continue  # the interpreter is slow; one candidate checks the path
        tiles = tuning.TileConfig(bi, bj, warps, stages)
        column_row(tiles.label(), lambda t=tiles: column_sums(q, k, lse, mask, scale, backend="triton", config=t))

    slots = keep_count(RATIO, n, n)
    n_valid = mask.sum(dim=1)
    old, old_score = legacy.select_fused(hidden, mask, positions, partial, n_valid, RATIO, slots)
    ranked = select_ranked(hidden, mask, positions, old_score, n_valid, RATIO, slots)
    same_as_ranked = all(torch.equal(a, b) for a, b in zip(old, ranked))

    def select_row(label: str, fn) -> None:  # noqa: ANN001
        got, score = fn()
        exact = torch.equal(score, old_score) and all(torch.equal(a, b) for a, b in zip(got, old))
        rows.append({"kernel": "select", "config": label, "us": time_us(fn), "ok": exact})
        log(f"  select {label:>22}: {rows[-1]['us'] or 0:8.1f} µs  exact {exact}")

    args = (hidden, mask, positions, partial, n_valid, RATIO, slots)
    select_row("old", lambda: legacy.select_fused(*args))
    default_select = tuning.select_config(batch, n, hidden.shape[2])
    select_row(f"default {default_select.label()}", lambda: select_fused(*args, return_score=True, backend="triton"))
    for split, radix, warps, block_d, block_s in SELECT_CANDIDATES:
        if device == "cpu" and block_d not in (32, 128):
            continue
        config = tuning.SelectConfig(split, radix, warps, block_d, block_s)
        select_row(config.label(), lambda c=config: select_fused(*args, return_score=True, backend="triton", config=c))
    return {"batch": batch, "seq_len": n, "heads": q.shape[1], "slots": slots, "old_select_is_select_ranked":
            same_as_ranked, "rows": rows}  # fmt: skip


def _summary(cell: dict) -> dict:
    """Old, default and best (among outputs that check) µs per kernel."""
    out = {}
    for kernel in ("column_sums", "select"):
        rows = [r for r in cell["rows"] if r["kernel"] == kernel]
        timed = [r for r in rows if r["ok"] and r["us"] is not None]
        best = min(timed, key=lambda r: r["us"], default=None)
        old = next(r for r in rows if r["config"] == "old")
        default = next(r for r in rows if r["config"].startswith("default"))
        out[kernel] = {"old_us": old["us"], "default": default["config"], "default_us": default["us"],
                       "best": best and best["config"], "best_us": best and best["us"],
                       "all_ok": all(r["ok"] for r in rows)}  # fmt: skip
    return out


def render(result: dict) -> str:
    lines = [f"# Fused ACC kernel sweep — {result['env'].get('gpu', result['env']['device'])}", "",
             f"torch {result['env']['torch']}, triton {result['env'].get('triton')}; H={HEADS}, head dim {HEAD_DIM}, "
             f"hidden {WIDTH}, fp16, CUDA-graph replay median µs per call (do_bench_cudagraph). ok: column sums within "
             "1e-3 of the fp32 reference; selection identical to the old kernel in every slot and in the score.", "",
             "| cell | kernel | old µs | default | default µs | best | best µs | all ok |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for cell in result["cells"]:
        if "error" in cell:
            lines.append(f"| {cell['cell']} | error | {cell['error']} | | | | | |")
            continue
        for kernel, s in cell["summary"].items():
            lines.append(f"| {cell['batch']}x{cell['seq_len']} | {kernel} | {fmt(s['old_us'])} | {s['default']} | "
                         f"{fmt(s['default_us'])} | {s['best']} | {fmt(s['best_us'])} | {s['all_ok']} |")  # fmt: skip
    for cell in result["cells"]:
        if "rows" not in cell:
            continue
        lines += ["", f"## {cell['batch']}x{cell['seq_len']} (slots {cell['slots']})", "", "| kernel | config | µs | ok |",
                  "|---|---|---|---|"]  # fmt: skip
        lines += [f"| {r['kernel']} | {r['config']} | {fmt(r['us'])} | {r['ok']} |" for r in cell["rows"]]
    lines += ["", f"Wall time {result['wall_s']:.1f} s."]
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(text)
    os.replace(handle.name, path)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.smoke:
        os.environ.setdefault("TRITON_INTERPRET", "1")  # read when the kernels are first imported
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # kernels_legacy
    import torch

    from acc.modeling.kernels import triton_status

    device = "cpu" if args.smoke else "cuda"
    started = time.perf_counter()
    env = {"python": platform.python_version(), "torch": torch.__version__, "device": device}
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError as exc:
        env["triton"] = f"missing ({exc})"
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    reason = triton_status(device)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"env": env, "cells": [], "wall_s": 0.0}
    if reason is not None:
        print(f"kernels_sweep: the Triton kernels cannot run here: {reason}", flush=True)
        result["error"] = reason
    else:
        time_us = _timer(args.smoke, args.rep_ms)
        dtype = torch.float32 if args.smoke else torch.float16
        for cell in args.cells.split(","):
            batch, n = (int(x) for x in cell.lower().split("x"))
            if time.perf_counter() - started > args.budget_s:
                result["cells"].append({"cell": cell, "error": f"skipped: past the {args.budget_s:.0f} s budget"})
                continue
            print(f"cell {cell} ({time.perf_counter() - started:.0f} s)", flush=True)
            try:
                data = sweep_cell(batch, n, device, dtype, time_us, lambda line: print(line, flush=True))
                data["summary"] = _summary(data)
                result["cells"].append(data)
            except Exception as exc:  # noqa: BLE001 - recorded, the next cell still runs
                result["cells"].append({"cell": cell, "error": f"{type(exc).__name__}: {exc}"[:500]})
                print(f"  error: {result['cells'][-1]['error']}", flush=True)
            if device == "cuda":
                torch.cuda.empty_cache()
    result["wall_s"] = time.perf_counter() - started
    _write_atomic(args.out / "kernels_sweep.json", json.dumps(result, indent=2, default=str) + "\n")
    _write_atomic(args.out / "kernels_sweep.md", render(result))
    print(render(result), flush=True)
    cells_ok = all("error" not in c and all(s["all_ok"] for s in c["summary"].values()) for c in result["cells"])
    return 0 if reason is None and cells_ok else 1


if __name__ == "__main__":
    sys.exit(main())
