"""GPU check 2 (issue #6): fp16 graphs, IO binding and CUDA graphs on ONNX Runtime's CUDA EP, vs the fp32 CPU graphs.

On the device (after ``source benchmarks/device/env.sh`` and onnxruntime-gpu in /tmp/site; see gpu_check2.sh):

    python benchmarks/device/gpu_check2.py --out $OUT/h100-fp16.json            # ~3-4 min on an H100
    python benchmarks/device/gpu_check2.py --smoke --out /tmp/smoke.json        # CPU dry run of every code path
    python benchmarks/device/gpu_check2.py --render RESULT.json                 # here: JSON + .md + .png in results/

1. Bundle: exports ``--model`` (default the shipped bert-sst2, which travels with the tree) with
   ``--precision fp32,fp16,fp16-all`` unless ``--bundle`` already holds one; plus the keep-counts adjustable graph
   (fp32 → fp16), whose TopK widths are fed per bucket so a CUDA graph can replay it.
2. Agreement on SST-2 dev: every graph (and the adjustable graph at each profile) in fp32, fp16 (score and
   selection fp32) and fp16-all on ``--device`` vs the fp32 graph on the CPU EP: label agreement, accuracy, max
   |Δlogits| over samples whose kept sets agree and over all samples, per-layer kept-set flip rates.
3. Latency per (batch, seq), full-length inputs, candidates timed round-robin in one process: the fused ORT dense
   baseline in fp32 and fp16 (plain run, IO binding, CUDA graph), the bundle's graphs in fp32 and fp16 (plain run,
   IO binding; CUDA graph where the graph allows one). Candidates that cannot be built or run are recorded with
   their one-line error. The JSON is rewritten after each stage, so a timeout keeps what was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
PRECISIONS = ("fp32", "fp16", "fp16-all")
BASELINE_REF = "baseline/fp16/run"


def _write(path: Path, data: dict) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(temporary, path)


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:400]


def _custom_ops_library() -> str | None:
    """Path of the AccScore kernel library the sessions register (None: fused graphs run AccScore's ONNX body)."""
    from acc.runtime.custom_ops import find_library

    found = find_library()
    return None if found is None else str(found)


def ensure_bundle(args: argparse.Namespace) -> Path:
    from acc.exporter import ExportOptions, main_export
    from acc.profiles import parse_speedups

    if (args.bundle / "manifest.json").is_file():
        return args.bundle
    # allow_mismatch: agreement is measured (not gated) by this script, so a bundle is always written
    options = ExportOptions(model=args.model, speedups=tuple(parse_speedups(args.speedups)), output=args.bundle,
                            max_examples=args.export_examples, validate_grid="none", bench=False, progress=False,
                            overwrite=True, precision=args.precisions, data_dir=args.data_dir,
                            attention=args.attention, adjustable=not args.no_adjustable,
                            allow_mismatch=True)  # fmt: skip
    return main_export(options, progress=lambda m: print(m, flush=True)).bundle


def counts_graph(bundle: Path) -> Path:
    """``graphs/adjustable.counts.fp16.onnx``: the keep-counts adjustable graph in fp16 (for the CUDA-graph run)."""
    from acc.exporter.engines.keep_counts import KeepCountsOnnx, save_beside
    from acc.exporter.precision import write_variant

    fp32 = save_beside(KeepCountsOnnx(bundle / "graphs" / "adjustable.onnx")(), "adjustable.counts.onnx")
    return write_variant(fp32, "fp16").path


def agreement(bundle: Path, device: str, examples: int | None, data_dir: str | None,
              precisions: tuple[str, ...] = PRECISIONS) -> list[dict]:  # fmt: skip
    from transformers import AutoTokenizer

    from acc.exporter.validate import sst2_batches
    from acc.modeling.data import load_sst2
    from acc.runtime import OrtBackend, read_manifest
    from acc.runtime.precision import variant_file

    manifest = read_manifest(bundle, verify=False)
    tokenizer = AutoTokenizer.from_pretrained(str(bundle / "tokenizer"))
    batches = list(sst2_batches(load_sst2("dev", data_dir).head(examples), tokenizer, 32, 128))
    jobs = [(p.name, bundle / p.graph, None) for p in manifest.profiles]
    if manifest.adjustable is not None:
        jobs += [(f"adjustable@{p.name}", bundle / manifest.adjustable.graph, p.profile.keep_ratios)
                 for p in manifest.profiles if p.name != "dense"]  # fmt: skip
    rows = []
    for name, graph, ratios in jobs:
        feeds_of = [dict(b.feeds, **({} if ratios is None else {"keep_ratios": np.asarray(ratios, np.float32)}))
                    for b in batches]  # fmt: skip
        reference = [OrtBackend(graph, device="cpu").infer(f) for f in feeds_of]
        for precision in precisions:
            row = {"graph": name, "precision": precision, "device": device}
            try:
                backend = OrtBackend(variant_file(graph, precision), device=device, io_binding=True)
                row.update(_compare(reference, [backend.infer(f) for f in feeds_of], [b.labels for b in batches]))
            except Exception as exc:  # noqa: BLE001 - one failure is a result, the others still run
                row["error"] = _error(exc)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def _compare(reference: list[dict], got: list[dict], labels: list[np.ndarray]) -> dict:
    layers = [k for k in reference[0] if k.startswith("kept_index_")]
    flips = dict.fromkeys(layers, 0)
    agree = correct = total = flipped_samples = 0
    diff_unflipped = diff_all = 0.0
    for ref, out, y in zip(reference, got, labels):
        flipped = np.zeros(len(y), dtype=bool)
        for layer in layers:
            a, b = ref[layer], out[layer]
            differs = (np.sort(a, 1) != np.sort(b, 1)).any(1) if a.shape == b.shape else np.ones(len(y), bool)
            flips[layer] += int(differs.sum())
            flipped |= differs
        delta = np.abs(ref["logits"] - out["logits"]).max(axis=1)
        diff_all = max(diff_all, float(delta.max()))
        if (~flipped).any():
            diff_unflipped = max(diff_unflipped, float(delta[~flipped].max()))
        agree += int((ref["logits"].argmax(1) == out["logits"].argmax(1)).sum())
        correct += int((out["logits"].argmax(1) == y).sum())
        flipped_samples += int(flipped.sum())
        total += len(y)
    return {"examples": total, "label_agreement": agree / total, "accuracy": correct / total,
            "max_abs_diff_unflipped": diff_unflipped, "max_abs_diff_all": diff_all,
            "samples_with_flips": flipped_samples, "flip_rate": {k: v / total for k, v in flips.items()}}  # fmt: skip


def _candidates(bundle: Path, device: str, baseline: dict, counts: Path | None, buckets: object,
                precisions: tuple[str, ...] = PRECISIONS) -> tuple[dict, dict]:  # fmt: skip
    """``{label: (backend, keep_ratios or None, ratios for theory)}`` and ``{label: error}`` for those that failed."""
    from acc.runtime import OrtBackend, read_manifest
    from acc.runtime.precision import variant_file

    manifest = read_manifest(bundle, verify=False)
    dense_ratios = [1.0] * manifest.model.num_layers
    specs = [(f"baseline/{p}/{mode}", Path(baseline[p]), None, dense_ratios, mode)
             for p in ("fp32", "fp16") if p in baseline for mode in ("run", "iobind", "cudagraph")]  # fmt: skip
    for entry in manifest.profiles:
        ratios = list(entry.profile.keep_ratios)
        for precision, modes in (("fp32", ("run", "iobind")), ("fp16", ("iobind", "cudagraph", "cudagraph-fixed"))):
            if precision not in precisions:
                continue
            specs += [(f"{entry.name}/{precision}/{m}", variant_file(bundle / entry.graph, precision), None, ratios, m)
                      for m in modes]  # fmt: skip
    if counts is not None:
        heaviest = manifest.profiles[-1]
        ratios = list(heaviest.profile.keep_ratios)
        specs += [
            (f"adjustable-counts@{heaviest.name}/fp16/{m}", counts, ratios, ratios, m) for m in ("iobind", "cudagraph")
        ]
    made, failed = {}, {}
    for label, path, feed_ratios, ratios, mode in specs:
        try:
            graphs = mode.startswith("cudagraph")
            backend = OrtBackend(path, device=device, outputs=("logits",), io_binding=mode != "run",
                                 cuda_graph=graphs and device == "cuda", buckets=buckets if graphs else None,
                                 fixed_shapes=mode == "cudagraph-fixed")  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - e.g. CUDA graphs refused for an ACC ratios graph: recorded
            failed[label] = _error(exc)
            continue
        made[label] = (backend, feed_ratios, ratios)
    return made, failed


def host_copies(bundle: Path, device: str, precisions: tuple[str, ...]) -> dict[str, dict]:
    """Per graph file: ORT's optimized graph on ``device`` — Memcpy nodes (device→host copies stall the stream)
    and nodes left on the CPU EP. Static-width graphs should have no MemcpyToHost."""
    import onnx
    import onnxruntime

    from acc.runtime import read_manifest
    from acc.runtime.custom_ops import register
    from acc.runtime.ort_session import providers_for
    from acc.runtime.precision import variant_file

    manifest = read_manifest(bundle, verify=False)
    report = {}
    for entry in manifest.profiles:
        for precision in precisions:
            path = variant_file(bundle / entry.graph, precision)
            target = Path("/tmp") / f"optimized-{path.stem}.onnx"
            options = onnxruntime.SessionOptions()
            options.optimized_model_filepath = str(target)
            if device == "cuda":
                register(options, device="cuda")
            try:
                onnxruntime.InferenceSession(str(path), options, providers=providers_for(device))
                nodes = onnx.load(str(target), load_external_data=False).graph.node
                counts = {op: sum(n.op_type == op for n in nodes) for op in ("MemcpyToHost", "MemcpyFromHost")}
                report[path.name] = {**counts, "nodes": len(nodes)}
            except Exception as exc:  # noqa: BLE001 - recorded per graph
                report[path.name] = {"error": _error(exc)}
            print(f"host copies {path.name}: {report[path.name]}", flush=True)
    return report


def fp16_baseline(fp32_path: Path) -> Path:
    import onnx
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = OnnxModel(onnx.load(str(fp32_path)))
    model.convert_float_to_float16(keep_io_types=True)
    target = fp32_path.with_name("dense-optimized.fp16.onnx")
    model.save_model_to_file(str(target))
    return target


def latency(bundle: Path, device: str, batches: list[int], seqs: list[int], iters: int, warmup: int,
            max_seconds: float, counts: Path | None, model: str,
            precisions: tuple[str, ...] = PRECISIONS) -> tuple[list[dict], dict, dict]:  # fmt: skip
    from acc.exporter.bench.measure import paired_speedup
    from acc.exporter.dense_baseline import export_dense_baseline
    from acc.profiles import EncoderShape, theoretical_speedup
    from acc.runtime import read_manifest
    from acc.runtime.buckets import Buckets
    from acc.runtime.timing import full_length_feeds, measure_interleaved

    manifest = read_manifest(bundle, verify=False)
    card = manifest.model
    shape = EncoderShape(card.num_layers, card.hidden_size, card.intermediate_size, card.num_heads)
    base = export_dense_baseline(model, bundle.parent / f"{bundle.name}-baseline")
    paths = {"fp32": base.path}
    info = {"baseline": base.to_dict(), "failed": {}}
    try:
        paths["fp16"] = fp16_baseline(base.path)
    except Exception as exc:  # noqa: BLE001
        info["failed"]["baseline/fp16"] = _error(exc)
    made, failed = _candidates(bundle, device, paths, counts, Buckets(tuple(batches), tuple(seqs)), precisions)
    info["failed"].update(failed)
    rows = []
    for batch in batches:
        for seq in seqs:
            feeds = full_length_feeds(batch, seq, 30000)
            runs = {}
            for label, (backend, feed_ratios, _) in made.items():
                f = (
                    dict(feeds)
                    if feed_ratios is None
                    else {**feeds, "keep_ratios": np.asarray(feed_ratios, np.float32)}
                )
                try:
                    backend.infer(f)  # first call: builds buffers / captures the CUDA graph; failures recorded
                except Exception as exc:  # noqa: BLE001
                    info["failed"][f"{label}@b{batch}s{seq}"] = _error(exc)
                    continue
                runs[label] = lambda b=backend, f=f: b.infer(f)
            samples = measure_interleaved(runs, warmup=warmup, iters=iters, max_seconds=max_seconds)
            reference = samples.get(BASELINE_REF) or samples.get("baseline/fp32/run")
            for label, ms in samples.items():
                values = np.asarray(ms)
                rows.append({"candidate": label, "batch": batch, "seq": seq, "p50_ms": float(np.percentile(values, 50)),
                             "p99_ms": float(np.percentile(values, 99)), "iters": len(ms),
                             "speedup_vs_baseline_fp16": paired_speedup(reference, ms) if reference else None,
                             "theoretical_speedup": theoretical_speedup(made[label][2], shape, seq)})  # fmt: skip
            cell = [r for r in rows if (r["batch"], r["seq"]) == (batch, seq)]
            print(f"b{batch} s{seq}: " + "  ".join(f"{r['candidate']} {r['p50_ms']:.2f}ms" for r in cell), flush=True)
    return (
        rows,
        info,
        {
            label: backend._buckets.captured()
            for label, (backend, _, _) in made.items()  # noqa: SLF001
            if backend._buckets is not None
        },
    )  # noqa: SLF001


def run(args: argparse.Namespace) -> int:
    import onnxruntime

    if args.device == "cuda" and hasattr(onnxruntime, "preload_dlls"):
        onnxruntime.preload_dlls()
    started = time.time()
    from acc.runtime import device_name

    result = {"schema_version": SCHEMA_VERSION, "name": Path(args.model).name, "device": device_name(args.device),
              "device_kind": args.device, "onnxruntime": onnxruntime.__version__,
              "providers": onnxruntime.get_available_providers(), "smoke": args.smoke,
              "utc": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())}  # fmt: skip
    bundle = ensure_bundle(args)
    result["attention"] = args.attention
    result["custom_ops_library"] = _custom_ops_library()
    result["bundle_precisions"] = json.loads((bundle / "manifest.json").read_text()).get("precisions", {}).get("graphs")
    counts = None
    try:
        counts = counts_graph(bundle)
    except Exception as exc:  # noqa: BLE001
        result["counts_graph_error"] = _error(exc)
    result["host_copies"] = host_copies(bundle, args.device, args.precisions)
    result["seconds_setup"] = round(time.time() - started, 1)
    _write(args.out, result)
    if not args.skip_agreement:
        result["agreement"] = agreement(bundle, args.device, args.examples, args.data_dir, args.precisions)
    _write(args.out, result)
    if args.skip_latency:
        result["seconds"] = round(time.time() - started, 1)
        _write(args.out, result)
        return 0
    batches, seqs = [int(b) for b in args.batches.split(",")], [int(s) for s in args.seqs.split(",")]
    result["latency"], info, captured = latency(bundle, args.device, batches, seqs, args.iters, args.warmup,
                                                args.max_seconds, counts, args.model, args.precisions)  # fmt: skip
    result.update(baseline=info["baseline"], failed=info["failed"], buckets_used=captured)
    result["seconds"] = round(time.time() - started, 1)
    _write(args.out, result)
    print(f"wrote {args.out} in {result['seconds']} s; failed candidates: {json.dumps(info['failed'])}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="result JSON (on the device: $OUT/h100-fp16.json)")
    parser.add_argument("--render", type=Path, default=None, help="render a result JSON into benchmarks/results/")
    parser.add_argument("--results-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--bundle", type=Path, default=Path("/tmp/bundles/bert-sst2-fp16"))
    parser.add_argument("--model", default="bert-sst2")
    parser.add_argument("--speedups", default="1.5,3,4.8")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--examples", type=int, default=None, help="SST-2 dev examples for agreement (all 872)")
    parser.add_argument("--export-examples", type=int, default=128, help="examples the export validates on (CPU)")
    parser.add_argument("--batches", default="1,8,32,128")
    parser.add_argument("--seqs", default="128,512")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=4.0, help="timed seconds per (batch, seq) cell")
    parser.add_argument(
        "--attention",
        default="eager",
        choices=("eager", "fused"),
        help="graph form to export (fused: ORT MultiHeadAttention + ai.acc::AccScore)",
    )
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="graph precisions to export and compare")
    parser.add_argument("--no-adjustable", action="store_true", help="export fixed profiles only (faster)")
    parser.add_argument("--skip-agreement", action="store_true", help="latency only (random-weight models)")
    parser.add_argument("--skip-latency", action="store_true", help="agreement only")
    parser.add_argument("--smoke", action="store_true", help="CPU, 1 profile, 32 examples, tiny grid: checks the code")
    args = parser.parse_args(argv)
    args.precisions = tuple(p.strip() for p in args.precisions.split(","))
    if args.render is not None:
        from gpu_check2_render import render

        for path in render(args.render, args.results_dir):
            print(path)
        return 0
    if args.out is None:
        parser.error("--out is required unless --render is given")
    if args.smoke:
        args.device, args.speedups, args.examples, args.export_examples = "cpu", "3", 32, 16
        args.batches, args.seqs, args.iters, args.warmup, args.max_seconds = "1,2", "16,32", 3, 1, 1.0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
