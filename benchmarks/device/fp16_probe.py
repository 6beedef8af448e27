"""Why do fp16 ACC graphs disagree with fp32 on ONNX Runtime's CUDA EP but not on the CPU EP? (issue #6)

The H100 run of gpu_check2 (ORT 1.31.1) found s1.5 fp16: 74% label agreement, "max |Δ| over all samples" printed as
0 — the signature of NaN logits (every comparison with NaN is false) — while dense fp16 agreed 100% and the same
fp16 graph agreed on the CPU EP (where ORT runs most fp16 nodes in fp32 through inserted Casts). This probe:

1. runs a profile's fp16 graph on CUDA and CPU on SST-2 dev batches and counts non-finite logits per sample;
2. repeats on CUDA with graph optimisations off (``ORT_DISABLE_ALL``) and at each level, to tell a fused-kernel
   problem from a plain-kernel one, and records the op types of the CUDA-optimised graph;
3. exposes every intermediate tensor of the unoptimised graph as an output and reports, for the first failing batch,
   the first nodes (in topological order) whose CUDA output is non-finite while the CPU output is finite.

    python benchmarks/device/fp16_probe.py --bundle /tmp/bundles/bert-sst2-fp16 --out $OUT/fp16_probe.json
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np

LEVELS = ("ORT_DISABLE_ALL", "ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL")


def _session(path: Path | bytes, provider: str, level: str = "ORT_ENABLE_ALL", optimized: Path | None = None):  # noqa: ANN202
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    source = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(source, options, providers=[provider])


def _nonfinite_samples(outputs: dict[str, np.ndarray]) -> np.ndarray:
    logits = outputs["logits"]
    return ~np.isfinite(logits).all(axis=1)


def _run(session, feeds: dict) -> dict[str, np.ndarray]:  # noqa: ANN001
    names = [o.name for o in session.get_outputs()]
    wanted = {i.name for i in session.get_inputs()}
    return dict(zip(names, session.run(names, {k: v for k, v in feeds.items() if k in wanted})))


def _all_outputs_model(path: Path) -> tuple[bytes, list[tuple[str, str, str]]]:
    """The graph with every node output exposed (types from shape inference); (node, op, tensor) in graph order."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_model

    model = onnx.load(str(path), load_external_data=False)
    load_external_data_for_model(model, str(path.parent))
    model = onnx.shape_inference.infer_shapes(model)
    typed = {v.name: v for v in list(model.graph.value_info) + list(model.graph.output)}
    existing = {o.name for o in model.graph.output}
    order = []
    for node in model.graph.node:
        for tensor in node.output:
            if not tensor:
                continue
            order.append((node.name, node.op_type, tensor))
            info = typed.get(tensor)
            if tensor in existing or info is None or info.type.tensor_type.elem_type not in (1, 10):
                continue  # float / float16 tensors only: NaN lives there
            model.graph.output.append(info)
    return model.SerializeToString(), order


def probe(bundle: Path, profile: str, examples: int, data_dir: str | None) -> dict:
    from transformers import AutoTokenizer

    from acc.exporter.validate import sst2_batches
    from acc.modeling.data import load_sst2
    from acc.runtime.precision import variant_file

    graph = variant_file(bundle / "graphs" / f"{profile}.onnx", "fp16")
    tokenizer = AutoTokenizer.from_pretrained(str(bundle / "tokenizer"))
    batches = list(sst2_batches(load_sst2("dev", data_dir).head(examples), tokenizer, 32, 128))
    result: dict = {"graph": graph.name, "examples": sum(len(b.labels) for b in batches)}

    cpu = _session(graph, "CPUExecutionProvider")
    per_level = {}
    for level in LEVELS:
        optimized = Path(f"/tmp/probe-{profile}-{level}.onnx") if level == "ORT_ENABLE_ALL" else None
        cuda = _session(graph, "CUDAExecutionProvider", level, optimized)
        bad_cuda = bad_cpu = agree = 0
        first_bad = None
        for index, batch in enumerate(batches):
            got, ref = _run(cuda, batch.feeds), _run(cpu, batch.feeds)
            bad = _nonfinite_samples(got)
            bad_cuda += int(bad.sum())
            bad_cpu += int(_nonfinite_samples(ref).sum())
            agree += int((got["logits"].argmax(1) == ref["logits"].argmax(1)).sum())
            if first_bad is None and bad.any():
                first_bad = index
        per_level[level] = {"nonfinite_samples_cuda": bad_cuda, "nonfinite_samples_cpu": bad_cpu,
                            "label_agreement": agree / result["examples"], "first_bad_batch": first_bad}  # fmt: skip
        if optimized is not None and optimized.exists():
            import onnx

            ops = collections.Counter(f"{n.domain + '::' if n.domain else ''}{n.op_type}"
                                      for n in onnx.load(str(optimized), load_external_data=False).graph.node)  # fmt: skip
            per_level[level]["optimized_op_types"] = dict(ops.most_common())
        print(level, json.dumps({k: v for k, v in per_level[level].items() if k != "optimized_op_types"}), flush=True)
    result["levels"] = per_level

    failing = next((v["first_bad_batch"] for v in per_level.values() if v["first_bad_batch"] is not None), None)
    if failing is None:
        result["first_nonfinite_nodes"] = []
        return result
    raw, order = _all_outputs_model(graph)
    feeds = batches[failing].feeds
    found = []
    for level in ("ORT_DISABLE_ALL", "ORT_ENABLE_ALL"):
        got = _run(_session(raw, "CUDAExecutionProvider", level), feeds)
        ref = _run(_session(raw, "CPUExecutionProvider", level), feeds)
        rows = []
        for node, op, tensor in order:
            if tensor not in got or tensor not in ref:
                continue
            a, b = np.asarray(got[tensor]), np.asarray(ref[tensor])
            if a.dtype.kind != "f":
                continue
            if (~np.isfinite(a)).sum() > (~np.isfinite(b)).sum():
                rows.append({"node": node, "op": op, "tensor": tensor, "shape": list(a.shape),
                             "nonfinite_cuda": int((~np.isfinite(a)).sum()), "nonfinite_cpu": int((~np.isfinite(b)).sum()),
                             "max_abs_cpu": float(np.nanmax(np.abs(np.where(np.isfinite(b), b, 0)))) if b.size else 0.0})  # fmt: skip
            if len(rows) >= 8:
                break
        found.append({"level": level, "batch": failing, "nodes": rows})
        print(level, json.dumps(rows[:3]), flush=True)
    result["first_nonfinite_nodes"] = found
    return result


def markdown(report: dict) -> str:
    """The probe's findings as a Markdown report (``--render``)."""
    lines = [f"# fp16 ACC graphs on ONNX Runtime {report['onnxruntime']} CUDA EP: where the non-finite values start",
             "", "Recipe: `benchmarks/device/fp16_probe.py` (stage `probe` of `benchmarks/device/fused_gpu.sh`). "
             "Reference: the same fp16 graph on the CPU EP.", "",
             "| graph | optimisation level | samples with non-finite logits (CUDA / CPU) | label agreement CUDA vs CPU |",
             "|---|---|---|---|"]  # fmt: skip
    for name, probe_ in report["profiles"].items():
        for level, row in probe_.get("levels", {}).items():
            lines.append(
                f"| {probe_.get('graph', name)} (of {probe_.get('examples', '?')}) | {level} | "
                f"{row['nonfinite_samples_cuda']} / {row['nonfinite_samples_cpu']} | {100 * row['label_agreement']:.2f}% |"
            )
    lines += [
        "",
        "First nodes (graph order) whose CUDA output has more non-finite values than on CPU:",
        "",
        "| graph | level | node | op | shape | non-finite CUDA / CPU |",
        "|---|---|---|---|---|---|",
    ]
    for name, probe_ in report["profiles"].items():
        for found in probe_.get("first_nonfinite_nodes", []):
            for node in found["nodes"][:3]:
                lines.append(
                    f"| {name} | {found['level']} | `{node['node']}` | {node['op']} | {node['shape']} | "
                    f"{node['nonfinite_cuda']} / {node['nonfinite_cpu']} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="bundle exported with --precision fp32,fp16")
    parser.add_argument("--profiles", default="s1.5,s3")
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, required=True, help="result JSON (with --render: the Markdown to write)")
    parser.add_argument("--render", type=Path, default=None, help="write --out as Markdown from this result JSON")
    args = parser.parse_args(argv)
    if args.render is not None:
        args.out.write_text(markdown(json.loads(args.render.read_text())))
        return 0
    if args.bundle is None:
        parser.error("--bundle is required unless --render is given")
    import onnxruntime

    if hasattr(onnxruntime, "preload_dlls"):
        onnxruntime.preload_dlls()
    started = time.time()
    report = {"onnxruntime": onnxruntime.__version__, "profiles": {}}
    for profile in args.profiles.split(","):
        try:
            report["profiles"][profile] = probe(args.bundle, profile, args.examples, args.data_dir)
        except Exception as exc:  # noqa: BLE001 - a probe that fails still reports why
            report["profiles"][profile] = {"error": str(exc).splitlines()[0][:400]}
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    report["seconds"] = round(time.time() - started, 1)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
