"""AOTInductor packages of bert-sst2 on the GPU: compile, SST-2 dev agreement, latency vs the eager fast path.

Run from the repo root on the device machine (``benchmarks/device/aoti_check.sh`` sets up and calls this):

    python benchmarks/device/aoti_check.py --out-dir $OUT
    python benchmarks/device/aoti_check.py --out-dir /tmp/smoke --device cpu --speedups 3 --buckets 64 \
        --cells 2x64 --max-examples 64 --iters 3                   # CPU smoke test of the script itself

Parts (each recorded in ``aoti_check.json``, rewritten atomically after every step, so a timeout keeps what
finished; an error is recorded and the next step still runs):
  env       versions, GPU, whether Triton can run
  packages  ``export_aoti_package`` per profile and bucket (fp16, Triton kernels when they can be captured, else the
            PyTorch references: the ``kernels`` column says which), validated against the eager fp32 model; bucket
            128 for every profile first, then the larger buckets while the compile budget lasts
  accuracy  SST-2 dev through ``AotiRunner`` (bucket 128) vs the eager fp32 ACC model and vs the fp16 fast path
            (``FastAccRunner``, CUDA graphs): label agreement, accuracy, max |Δlogits|
  latency   full-length random inputs per (batch x seq) cell: the package, ``FastAccBert`` eager (no graphs), and
            ``FastAccRunner`` CUDA-graph replay — all fp16, same plan; p50 of ``iters`` synchronised calls
Writes ``aoti_check.json`` and ``aoti_check.md`` under ``--out-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--model", default="bert-sst2")
    parser.add_argument(
        "--data-dir", default=None, help="SST-2 folder (default: ACC_DATA_DIR, then the copy shipped in the package)"
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default=None, help="fp16 on cuda, fp32 on cpu by default")
    parser.add_argument("--speedups", default="1.5,3,4.8")
    parser.add_argument("--buckets", default="128,512", help="sequence buckets; the first is used for accuracy")
    parser.add_argument("--cells", default="8x128,32x512", help="batch x seq latency cells")
    parser.add_argument("--batch-max", type=int, default=64)
    parser.add_argument("--max-examples", type=int, default=None, help="first N SST-2 dev examples")
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--kernels", default="auto", choices=("auto", "triton", "torch"))
    parser.add_argument(
        "--compile-budget-s",
        type=float,
        default=170.0,
        help="start no new compile after this many seconds of compiling (bucket 128 always)",
    )
    return parser.parse_args(argv)


class Report:
    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / "aoti_check.json"
        self.data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "started_utc": _utc(), "errors": []}
        out_dir.mkdir(parents=True, exist_ok=True)

    def save(self) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".aoti_check.")
        with os.fdopen(fd, "w") as handle:
            json.dump(self.data, handle, indent=2, default=str)
        os.replace(tmp, self.path)

    def error(self, where: str, exc: BaseException) -> None:
        self.data["errors"].append({"where": where, "error": f"{type(exc).__name__}: {exc}"[:2000],
                                    "trace": traceback.format_exc()[-3000:]})  # fmt: skip
        print(f"[{where}] {type(exc).__name__}: {str(exc)[:400]}", flush=True)
        self.save()


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def env_part(device: str) -> dict[str, Any]:
    import torch

    from acc.modeling.kernels import triton_status

    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__, "device": device}
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError as exc:
        info["triton"] = f"missing ({exc})"
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    info["triton_status"] = triton_status(device) or "ok"
    return info


def package_part(args: argparse.Namespace, model: Any, profiles: list[Any], work: Path, report: Report) -> dict:
    """Compile every (profile, bucket), first bucket first; returns {(profile, bucket): AotiPackage}."""
    from acc.exporter.aoti import export_aoti_package

    buckets = [int(b) for b in args.buckets.split(",")]
    order = [(p, buckets[0]) for p in profiles] + [(p, b) for b in buckets[1:] for p in profiles]
    packages: dict[tuple[str, int], Any] = {}
    rows = report.data.setdefault("packages", [])
    skipped = report.data.setdefault("skipped_packages", [])
    spent = 0.0
    for profile, bucket in order:
        if bucket != buckets[0] and spent > args.compile_budget_s:
            skipped.append(f"{profile.name}@{bucket}")
            continue
        started = time.perf_counter()
        try:
            (package,) = export_aoti_package(
                model, profile, work / f"{profile.name}_{bucket}.pt2", batch_range=(1, args.batch_max),
                seq_buckets=(bucket,), device=args.device, dtype=args.dtype, kernels=args.kernels,
                labels=("negative", "positive"), allow_mismatch=True,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - recorded; the next package still runs
            report.error(f"package {profile.name}@{bucket}", exc)
            spent += time.perf_counter() - started
            continue
        spent += time.perf_counter() - started
        packages[profile.name, bucket] = package
        rows.append({"profile": profile.name, "seq_len": bucket, "kernels": package.kernels, "dtype": package.dtype,
                     "kernel_note": package.kernel_note, "compile_s": round(package.compile_s, 1),
                     "validation_label_agreement": package.label_agreement,
                     "validation_max_abs_diff": package.max_abs_diff, "validation_rows": package.examples,
                     "bytes": package.path.stat().st_size, "keep_ratios": list(profile.keep_ratios)})  # fmt: skip
        print(rows[-1], flush=True)
        report.save()
    report.data["compile_seconds_total"] = round(spent, 1)
    return packages


def accuracy_part(args: argparse.Namespace, loaded: Any, profiles: list[Any], packages: dict, report: Report) -> None:
    import torch

    from acc.modeling.data import iter_batches, load_sst2
    from acc.modeling.fast import FastAccRunner, to_fast
    from acc.runtime.aoti import AotiRunner

    bucket = int(args.buckets.split(",")[0])
    split = load_sst2("dev", args.data_dir).head(args.max_examples)
    batches = list(iter_batches(split, loaded.tokenizer, 32, bucket))
    labels = torch.cat([b.labels for b in batches]).numpy()
    reference = loaded.model.to(args.device).float().eval()
    fast = FastAccRunner(to_fast(loaded.model, _dtype(args), args.device), "fused", (bucket,))
    rows = report.data.setdefault("accuracy", [])
    for profile in profiles:
        if (profile.name, bucket) not in packages:
            continue
        runner = AotiRunner(packages[profile.name, bucket].path)
        got, ref, eager = [], [], []
        with torch.inference_mode():
            for b in batches:
                inputs = (b.input_ids, b.attention_mask, b.token_type_ids)
                got.append(runner.predict(*inputs))
                cuda_inputs = [t.to(args.device) for t in inputs]
                ref.append(reference(*cuda_inputs, keep_ratios=profile.keep_ratios).logits.float().cpu().numpy())
                eager.append(fast(*cuda_inputs, keep_ratios=profile.keep_ratios).logits.float().cpu().numpy())
        got, ref, eager = (np_cat(x) for x in (got, ref, eager))
        rows.append({
            "profile": profile.name, "examples": len(labels), "seq_bucket": bucket,
            "aoti_accuracy": float((got.argmax(1) == labels).mean()),
            "reference_accuracy": float((ref.argmax(1) == labels).mean()),
            "fast_accuracy": float((eager.argmax(1) == labels).mean()),
            "label_agreement_vs_reference": float((got.argmax(1) == ref.argmax(1)).mean()),
            "label_agreement_vs_fast": float((got.argmax(1) == eager.argmax(1)).mean()),
            "max_abs_diff_vs_reference": float(abs(got - ref).max()),
            "max_abs_diff_vs_fast": float(abs(got - eager).max()),
        })  # fmt: skip
        print(rows[-1], flush=True)
        report.save()
    fast.clear()


def np_cat(parts: list[Any]) -> Any:
    import numpy as np

    return np.concatenate(parts)


def latency_part(args: argparse.Namespace, loaded: Any, profiles: list[Any], packages: dict, report: Report) -> None:
    import torch

    from acc.exporter.config import config_for
    from acc.exporter.latency import measure_latency
    from acc.modeling.fast import FastAccRunner, make_plan, to_fast

    fast_model = to_fast(loaded.model, _dtype(args), args.device)
    config = config_for(loaded.model.config)
    rows = report.data.setdefault("latency", [])
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    for cell in args.cells.split(","):
        batch, seq = (int(v) for v in cell.split("x"))
        sample = config.sample_inputs(batch, seq)
        ids = sample["input_ids"].to(args.device)
        mask = torch.ones_like(ids)  # full length: every sample keeps its plan's slot count
        types = torch.zeros_like(ids)
        for profile in profiles:
            if (profile.name, seq) not in packages:
                continue
            row: dict[str, Any] = {"profile": profile.name, "batch": batch, "seq": seq,
                                   "kernels": packages[profile.name, seq].kernels}  # fmt: skip
            try:
                run = torch._inductor.aoti_load_package(str(packages[profile.name, seq].path))
                plan = make_plan("fused", profile.keep_ratios, fast_model.num_layers, seq, fast_model.min_keep, True)
                graphs = FastAccRunner(fast_model, "fused", (seq,), use_graphs=args.device == "cuda")
                inputs = (ids, mask, types)
                captured = graphs.captured(plan, batch) if args.device == "cuda" else None  # capture before timing
                candidates = {
                    "aoti": lambda run=run, inputs=inputs: run(*inputs),
                    "fast_eager": lambda plan=plan, inputs=inputs: fast_model(*inputs, plan),
                    "fast_cuda_graph": captured.replay if captured is not None else None,
                }
                for name, fn in candidates.items():
                    if fn is None:
                        continue
                    stats = measure_latency(lambda fn=fn: (fn(), sync()), warmup=args.warmup, iters=args.iters)
                    row[f"{name}_p50_ms"] = round(stats.p50_ms, 4)
                    row[f"{name}_p90_ms"] = round(stats.p90_ms, 4)
                graphs.clear()
                row["aoti_vs_fast_eager"] = round(row["fast_eager_p50_ms"] / row["aoti_p50_ms"], 3)
                if "fast_cuda_graph_p50_ms" in row:
                    row["aoti_vs_fast_cuda_graph"] = round(row["fast_cuda_graph_p50_ms"] / row["aoti_p50_ms"], 3)
            except Exception as exc:  # noqa: BLE001 - recorded; the next cell still runs
                report.error(f"latency {profile.name} {cell}", exc)
            rows.append(row)
            print(row, flush=True)
            report.save()


def _dtype(args: argparse.Namespace) -> Any:
    import torch

    name = args.dtype or ("fp16" if args.device == "cuda" else "fp32")
    return {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}[name]


def render_markdown(data: dict[str, Any]) -> str:
    env = data.get("env", {})
    lines = ["# AOTInductor packages of bert-sst2", "",
             f"{env.get('gpu', env.get('device'))}, torch {env.get('torch')}, triton {env.get('triton')} "
             f"(status: {env.get('triton_status')}); {data.get('started_utc')}", "",
             "## Packages", "", "| profile | seq | kernels | dtype | compile s | val. agreement | val. max abs diff |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in data.get("packages", []):
        lines.append(f"| {r['profile']} | {r['seq_len']} | {r['kernels']} | {r['dtype']} | {r['compile_s']} | "
                     f"{r['validation_label_agreement']:.4f} | {r['validation_max_abs_diff']:.3g} |")  # fmt: skip
    notes = sorted({r["kernel_note"] for r in data.get("packages", []) if r.get("kernel_note")})
    lines += [f"\nNote: {n}" for n in notes]
    if data.get("skipped_packages"):
        lines.append(f"\nNot compiled (budget): {', '.join(data['skipped_packages'])}")
    lines += ["", "## SST-2 dev", "", "| profile | examples | AOTI acc | reference acc | fast-path acc | agreement vs "
              "reference | agreement vs fast | max abs diff vs reference |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in data.get("accuracy", []):
        lines.append(f"| {r['profile']} | {r['examples']} | {r['aoti_accuracy']:.4f} | {r['reference_accuracy']:.4f} | "
                     f"{r['fast_accuracy']:.4f} | {r['label_agreement_vs_reference']:.4f} | "
                     f"{r['label_agreement_vs_fast']:.4f} | {r['max_abs_diff_vs_reference']:.3g} |")  # fmt: skip
    lines += ["", "## Latency (p50 ms, full-length inputs)", "",
              "| profile | batch x seq | AOTI | fast eager | fast CUDA graph | AOTI speedup vs eager | vs graph |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in data.get("latency", []):
        lines.append(f"| {r['profile']} | {r['batch']}x{r['seq']} | {r.get('aoti_p50_ms', '-')} | "
                     f"{r.get('fast_eager_p50_ms', '-')} | {r.get('fast_cuda_graph_p50_ms', '-')} | "
                     f"{r.get('aoti_vs_fast_eager', '-')} | {r.get('aoti_vs_fast_cuda_graph', '-')} |")  # fmt: skip
    if data.get("errors"):
        lines += ["", "## Errors", ""] + [f"- {e['where']}: {e['error'][:300]}" for e in data["errors"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    report = Report(args.out_dir)
    started = time.perf_counter()
    report.data["args"] = vars(args)
    try:
        report.data["env"] = env_part(args.device)
        report.save()
        from acc.modeling.checkpoint import load_model
        from acc.modeling.evaluate import eval_profiles

        loaded = load_model(args.model)
        profiles = [p for p in eval_profiles(loaded, [float(s) for s in args.speedups.split(",")]) if p.name != "dense"]
        work = Path(tempfile.mkdtemp(prefix="aoti-packages-"))
        packages = package_part(args, loaded.model, profiles, work, report)
    except Exception as exc:  # noqa: BLE001 - nothing to measure without packages
        report.error("setup", exc)
        packages, profiles, loaded = {}, [], None
    for name, part in (("accuracy", accuracy_part), ("latency", latency_part)):
        if not packages:
            break
        try:
            part(args, loaded, profiles, packages, report)
        except Exception as exc:  # noqa: BLE001 - recorded; the next part still runs
            report.error(name, exc)
    report.data["wall_s"] = round(time.perf_counter() - started, 1)
    report.save()
    (args.out_dir / "aoti_check.md").write_text(render_markdown(report.data))
    print(render_markdown(report.data))
    return 0 if packages and not report.data["errors"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
