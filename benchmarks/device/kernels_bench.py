"""Fused ACC kernels on the GPU: correctness vs the PyTorch references, latency table, SST-2 agreement, profile.

Run from the repo root on the device machine (``benchmarks/device/kernels_bench.sh`` sets up and calls this):

    python benchmarks/device/kernels_bench.py --out $OUT/h100-kernels.json
    python benchmarks/device/kernels_bench.py --smoke --out /tmp/smoke.json     # CPU, Triton interpreter, tiny

Parts, each in its own try/except (an error is recorded in the JSON and the next part still runs; the JSON is
rewritten atomically after every part, so a timeout keeps what finished):
  env          versions, GPU, whether Triton can run
  correctness  kernel chain vs references on BERT shapes (``acc.modeling.kernels.verify``), fast model vs the
               reference ACC model on a small random BERT (fused and naive, eager or CUDA graph)
  latency      BERT-base (random init, fp16), CUDA graphs, full-length inputs: dense (fused SDPA), ACC naive,
               ACC fused at each profile of ``profile_for_speedup(BERT_BASE, s)``; round-robin replays, p50
  accuracy     shipped bert-sst2 on SST-2 dev: fast path (fused fp16/fp32, naive fp16) vs the reference model
  profile      torch.profiler kernel-time summary of eager passes at 32x512 and 1x128 (dense, naive/fused s4.8)
  pytest       ``pytest -m gpu tests/modeling/kernels`` when pytest is installed and time is left
Numbers only; ``benchmarks/kernels/render_kernels.py`` renders them and checks the issue's goals.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from kernels_parts import accuracy_part, profile_part

SCHEMA_VERSION = 1
PARTS = ("env", "correctness", "latency", "accuracy", "profile", "pytest")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="results JSON (rewritten after every part)")
    parser.add_argument("--smoke", action="store_true", help="CPU, Triton interpreter, tiny shapes: checks the script")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {','.join(PARTS)}")
    # The slowest cell last, so a tight time budget drops it rather than the small-batch cells.
    parser.add_argument("--cells", default="32x512,1x128,8x128,128x128,128x512", help="batch x seq cells")
    parser.add_argument("--speedups", default="1.5,3,4.8")
    parser.add_argument("--iters", type=int, default=30, help="timed CUDA-graph replays per candidate and cell")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--model", default="bert-sst2", help="accuracy part: ACC checkpoint (alias or directory)")
    parser.add_argument(
        "--data-dir", default=None, help="SST-2 folder (default: ACC_DATA_DIR, then the copy shipped in the package)"
    )
    parser.add_argument("--max-examples", type=int, default=None, help="accuracy part: first N dev examples")
    parser.add_argument("--budget-s", type=float, default=270.0, help="stop starting new cells/checks after this")
    parser.add_argument("--methods", default="naive,fused", help="ACC candidates timed per profile (latency part)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="latency only, fused vs dense and HF, 20 replays, no new cell after 70 s (about 90 s wall)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.parts, args.methods, args.iters, args.budget_s = "env,latency", "fused", min(args.iters, 20), 70.0
    if args.smoke:
        args.cells = "2x16,1x8"
        args.iters, args.warmup = min(args.iters, 3), 1
        args.max_examples = args.max_examples or 8
    return args


class Context:
    """What the parts share: device, dtype, the clock, and models built once."""

    def __init__(self, args: argparse.Namespace) -> None:
        import torch

        self.args = args
        self.smoke = args.smoke
        self.device = "cpu" if args.smoke else "cuda"
        self.dtype = torch.float32 if args.smoke else torch.float16
        self.use_graphs = not args.smoke
        if args.smoke:
            torch.set_num_threads(1)  # tiny shapes: intra-op threads only contend with each other
        self.started = time.perf_counter()
        self.speedups = [float(s) for s in args.speedups.split(",") if s.strip()]
        self._bert_base = None
        self.hf_failure: str | None = None
        self.hf_sdpa = None  # Hugging Face BERT-base with SDPA attention, built on first use
        self.lse_source = "auto"  # "kernel" when the correctness part finds aten's log-sum-exp wrong

    def over_budget(self) -> bool:
        return time.perf_counter() - self.started > self.args.budget_s

    def bert_base(self):
        """Random-init BERT-base (12x768, seed 0); the smoke run uses a 12-layer, 32-wide one."""
        if self._bert_base is None:
            import torch
            from transformers import BertConfig, BertForSequenceClassification

            from acc.modeling.fast import to_fast

            torch.manual_seed(0)
            small = dict(hidden_size=32, num_attention_heads=2, intermediate_size=64, vocab_size=1000)
            config = BertConfig(num_labels=2, **(small if self.smoke else {}))
            hf = BertForSequenceClassification(config).eval()
            self._bert_base = (to_fast(hf, self.dtype, self.device, lse_source=self.lse_source), hf)
        return self._bert_base

    def profiles(self):
        from acc.profiles import BERT_BASE, profile_for_speedup

        return [profile_for_speedup(BERT_BASE, s) for s in self.speedups]


def env_part(ctx: Context) -> dict:
    import torch
    import transformers

    from acc.modeling.kernels import triton_status

    info = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "cuda_available": torch.cuda.is_available(), "triton_interpret": os.environ.get("TRITON_INTERPRET"),
            "triton_status": triton_status(ctx.device) or "ok"}  # fmt: skip
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError as exc:
        info["triton"] = f"missing ({exc})"
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["compute_capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
        info["cuda"] = torch.version.cuda
    print(json.dumps(info), flush=True)
    return info


def correctness_part(ctx: Context) -> dict:
    import torch

    from acc.modeling.kernels.verify import check_kernels

    fp16, fp32 = (torch.float32, torch.float32) if ctx.smoke else (torch.float16, torch.float32)
    shapes = [  # (batch, heads, seq, head_dim, dtype, padded, lse_source)
        (32, 12, 512, 64, fp16, False, "sdpa"), (32, 12, 512, 64, fp16, True, "sdpa"),
        (8, 12, 128, 64, fp16, True, "kernel"), (1, 12, 128, 64, fp16, False, "sdpa"),
        (4, 12, 300, 64, fp32, True, "sdpa"), (4, 12, 77, 32, fp16, True, "sdpa"), (3, 12, 61, 64, fp16, False, "kernel"),
    ]  # fmt: skip
    if ctx.smoke:
        shapes = [(2, 2, 24, 16, fp16, True, "sdpa"), (2, 2, 19, 16, fp32, False, "kernel")]
    checks = []
    for batch, heads, seq, head_dim, dtype, padded, source in shapes:
        try:
            record = check_kernels(batch, heads, seq, head_dim, dtype, ctx.device, padded, source).to_dict()
        except Exception as exc:
            record = {"batch": batch, "seq_len": seq, "dtype": str(dtype), "padded": padded, "lse_source": source,
                      "error": f"{type(exc).__name__}: {exc}", "failures": ["error"]}  # fmt: skip
        checks.append(record)
        print(json.dumps(record), flush=True)
    wrong_lse = [c for c in checks if c["lse_source"] == "sdpa" and any(f.startswith("lse") for f in c["failures"])]
    if wrong_lse:  # aten's log-sum-exp is not what the score needs here: later parts use the Triton lse kernel
        ctx.lse_source = "kernel"
    result = {"kernel_checks": checks, "lse_source_for_later_parts": ctx.lse_source, "model_check": _model_check(ctx)}
    print(json.dumps(result["model_check"]), flush=True)
    result["passed"] = all(not c["failures"] for c in checks) and result["model_check"].get("passed", False)
    return result


def _model_check(ctx: Context) -> dict:
    """Fast path (fused and naive, fp32, padded batch, eager and graph) vs the reference ACC model: a wiring check."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from acc.modeling.fast import FastAccRunner, to_fast
    from acc.modeling.kernels.verify import random_mask
    from acc.modeling.model import AccBertForSequenceClassification

    try:
        torch.manual_seed(1)
        width, layers = (32, 4) if ctx.smoke else (256, 4)
        config = BertConfig(hidden_size=width, num_hidden_layers=layers, num_attention_heads=4, intermediate_size=2 * width,
                            vocab_size=1000, num_labels=2)  # fmt: skip
        reference = AccBertForSequenceClassification(BertForSequenceClassification(config).eval()).to(ctx.device)
        batch, seq = (3, 20) if ctx.smoke else (8, 100)
        generator = torch.Generator().manual_seed(2)
        ids = torch.randint(1, 1000, (batch, seq), generator=generator)
        mask = random_mask(batch, seq, True, generator)
        ratios = (1.0, 0.7, 0.45, 0.25)
        with torch.no_grad():
            ref = reference(ids.to(ctx.device), mask.to(ctx.device), keep_ratios=ratios)
        out = {}
        for method in ("fused", "naive"):
            runner = FastAccRunner(to_fast(reference, torch.float32, ctx.device, lse_source=ctx.lse_source), method,
                                   seq_buckets=(seq + 28,),
                                   use_graphs=ctx.use_graphs)  # fmt: skip
            fast = runner(ids, mask, None, ratios)
            kept = [_kept_sets(ref, layer) == _kept_sets(fast, layer) for layer in range(layers)]
            out[method] = {
                "max_abs_logit_diff": float((fast.logits - ref.logits).abs().max()),
                "kept_sets_equal": all(kept),
            }
        out["passed"] = all(v["kept_sets_equal"] and v["max_abs_logit_diff"] < 1e-3 for v in out.values())
        return out
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:], "passed": False}


def _kept_sets(output, layer: int) -> list[list[int]]:
    positions, masks = output.kept_positions[layer], output.kept_masks[layer]
    return [sorted(positions[b][masks[b] > 0].tolist()) for b in range(positions.shape[0])]


def pytest_part(ctx: Context) -> dict:
    """The GPU tests of tests/modeling/kernels, last: the correctness part already made the same measurements."""
    if ctx.smoke:
        return {"skipped": "smoke run (no GPU)"}
    if ctx.over_budget():
        return {"skipped": "time budget used up"}
    try:
        import pytest  # noqa: F401 - only checks it is installed
    except ImportError:
        return {"skipped": "pytest is not installed here; the correctness part made the same measurements"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
                           "tests/modeling/kernels"], capture_output=True, text=True,
                          timeout=max(30.0, ctx.args.budget_s + 200 - (time.perf_counter() - ctx.started)))  # fmt: skip
    print(done.stdout[-2000:], flush=True)
    return {"returncode": done.returncode, "tail": (done.stdout + done.stderr)[-3000:]}


def latency_part(ctx: Context) -> dict:
    import torch

    fast, hf = ctx.bert_base()
    rows, skipped = [], []
    for cell in ctx.args.cells.split(","):
        batch, seq = (int(x) for x in cell.lower().split("x"))
        if ctx.over_budget():
            skipped.append(cell)
            continue
        try:
            rows += _latency_cell(ctx, fast, hf, batch, seq)
        except Exception as exc:
            rows.append({"candidate": "cell", "batch": batch, "seq": seq, "method": "-", "error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc()[-2000:]})  # fmt: skip
            print(f"cell {cell} failed: {rows[-1]['error']}", flush=True)
        if ctx.device == "cuda":
            torch.cuda.empty_cache()
    return {"model": "bert-base random init (seed 0)" if not ctx.smoke else "tiny 12-layer random BERT",
            "dtype": str(ctx.dtype), "cuda_graphs": ctx.use_graphs, "inputs": "full length (no padding)",
            "lse_fallbacks": fast.lse_fallbacks, "rows": rows, "skipped_cells": skipped,
            "profiles": [p.to_dict() for p in ctx.profiles()]}  # fmt: skip


def _latency_cell(ctx: Context, fast, hf, batch: int, seq: int) -> list[dict]:
    """One (batch, seq) cell: capture every candidate, time them round-robin, rows with speedups vs dense."""
    import torch

    from acc.exporter.latency import LatencyStats
    from acc.modeling.fast import make_plan
    from acc.profiles import BERT_BASE, theoretical_speedup

    rows: list[dict] = []
    candidates: dict[str, tuple[Callable[[], object], dict]] = {}
    ids = torch.randint(1, 999 if ctx.smoke else 30000, (batch, seq), device=ctx.device)
    mask = torch.ones(batch, seq, dtype=torch.long, device=ctx.device)
    dense = make_plan("dense", None, fast.num_layers, seq, padded=False)
    meta = {"method": "dense", "profile": "dense", "slots": dense.slots, "theoretical_speedup": 1.0}
    candidates["dense"] = (_replayer(ctx, fast, dense, ids, mask, meta), meta)
    for profile in ctx.profiles():
        theory = theoretical_speedup(profile.keep_ratios, BERT_BASE, seq)
        for method in [m.strip() for m in ctx.args.methods.split(",") if m.strip()]:
            plan = make_plan(method, profile.keep_ratios, fast.num_layers, seq, padded=False)
            meta = {"method": method, "profile": profile.name, "slots": plan.slots, "theoretical_speedup": theory}
            try:
                candidates[f"{method}@{profile.name}"] = (_replayer(ctx, fast, plan, ids, mask, meta), meta)
            except Exception as exc:
                rows.append({"candidate": f"{method}@{profile.name}", "batch": batch, "seq": seq, **meta,
                             "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
    hf_replay = _hf_replayer(ctx, hf, ids, mask)
    if isinstance(hf_replay, str):
        rows.append({"candidate": "hf-sdpa", "batch": batch, "seq": seq, "method": "hf-sdpa", "error": hf_replay})
    else:
        candidates["hf-sdpa"] = (hf_replay, {"method": "hf-sdpa", "profile": "dense", "theoretical_speedup": 1.0,
                                             "cuda_graph": ctx.use_graphs})  # fmt: skip
    samples = _time_round_robin(ctx, {name: run for name, (run, _) in candidates.items()})
    base = LatencyStats.from_samples(samples["dense"], ctx.args.warmup).p50_ms
    for name, (_, meta) in candidates.items():
        stats = LatencyStats.from_samples(samples[name], ctx.args.warmup)
        speedup = base / stats.p50_ms
        rows.append({"candidate": name, "batch": batch, "seq": seq, **meta, "p50_ms": stats.p50_ms,
                     "p90_ms": stats.p90_ms, "mean_ms": stats.mean_ms, "min_ms": min(samples[name]),
                     "iters": stats.iters, "speedup_vs_dense": speedup,
                     "fraction_of_theoretical": speedup / meta["theoretical_speedup"]})  # fmt: skip
    print(f"b{batch} s{seq}: " + "  ".join(f"{r['candidate']} {r['p50_ms']:.3f}ms x{r['speedup_vs_dense']:.2f}"
                                          for r in rows if "p50_ms" in r), flush=True)  # fmt: skip
    return rows


def _replayer(ctx: Context, fast, plan, ids, mask, meta: dict) -> Callable[[], object]:
    """A no-argument call running one pass: a captured CUDA graph's replay, or the eager pass (smoke, or when the
    capture fails: then ``meta`` records why, and the row is marked as not comparable)."""
    meta["cuda_graph"] = False
    if ctx.use_graphs:
        from acc.modeling.fast import CapturedPass

        try:
            captured = CapturedPass(fast, plan, ids.shape[0])
        except Exception as exc:
            meta["graph_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            print(f"capture failed for {plan.name}: {meta['graph_error']}", flush=True)
            fast(ids, mask, None, plan)  # an eager failure too propagates: the caller records an error row
        else:
            captured.input_ids.copy_(ids)
            captured.attention_mask.copy_(mask)
            meta["cuda_graph"] = True
            return captured.replay
    return lambda: fast(ids, mask, None, plan)


def _hf_replayer(ctx: Context, hf, ids, mask) -> Callable[[], object] | str:
    """Hugging Face BERT with SDPA attention in the same dtype and graphs: is our dense pass a fair baseline?"""
    import copy

    import torch

    if ctx.hf_failure is not None:
        return ctx.hf_failure
    try:
        if ctx.hf_sdpa is None:
            ctx.hf_sdpa = copy.deepcopy(hf).to(ctx.device, ctx.dtype)
            ctx.hf_sdpa.config._attn_implementation = "sdpa"
        model = ctx.hf_sdpa

        # Full-length inputs: no mask, as Hugging Face itself drops an all-ones mask for SDPA (flash kernel).
        def run():
            return model(input_ids=ids).logits

        with torch.inference_mode():
            run()
            if not ctx.use_graphs:
                return run
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                run()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                run()
        return graph.replay
    except Exception as exc:
        ctx.hf_failure = f"{type(exc).__name__}: {str(exc)[:300]}"  # not retried in later cells
        return ctx.hf_failure


def _time_round_robin(ctx: Context, runs: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """ms per call; candidates interleaved, start rotated each round, so drift spreads over all of them."""
    import torch

    names = list(runs)
    for _ in range(ctx.args.warmup):
        for name in names:
            runs[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    cuda = ctx.device == "cuda"
    if cuda:
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for round_ in range(ctx.args.iters):
        for offset in range(len(names)):
            name = names[(round_ + offset) % len(names)]
            if cuda:
                start.record()
                runs[name]()
                end.record()
                end.synchronize()
                samples[name].append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                runs[name]()
                samples[name].append((time.perf_counter() - t0) * 1e3)
    return samples


def _write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        json.dump(result, handle, indent=2, default=str)
        handle.write("\n")
    os.replace(handle.name, path)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.smoke:
        os.environ.setdefault("TRITON_INTERPRET", "1")  # read when the kernels are first imported, below
    ctx = Context(args)
    result: dict = {"schema_version": SCHEMA_VERSION, "name": "kernels", "smoke": args.smoke, "args": vars(args),
                    "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": {}}  # fmt: skip
    functions = {"env": env_part, "correctness": correctness_part, "latency": latency_part,
                 "accuracy": accuracy_part, "profile": profile_part, "pytest": pytest_part}  # fmt: skip
    for name in [p.strip() for p in args.parts.split(",") if p.strip()]:
        t0 = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            result[name] = functions[name](ctx)
        except Exception as exc:
            result[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-4000:]}
            print(f"{name} failed: {result[name]['error']}", flush=True)
        result["seconds"][name] = round(time.perf_counter() - t0, 2)
        _write(args.out, result)
    print(f"wrote {args.out} ({time.perf_counter() - ctx.started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
