"""Runtime.predict on one bundle, as JSON, so two interpreters (x86-64 and emulated aarch64) can be compared.

    python benchmarks/edge/predict_check.py run BUNDLE --out host.json           # any interpreter, core runtime only
    python benchmarks/edge/predict_check.py compare host.json aarch64.json --out DIR/aarch64-python

``run`` imports only ``acc.runtime`` (numpy, onnxruntime, tokenizers: no torch), loads the bundle (sha256 of every
file verified) and predicts a fixed set of sentences at dense and every shipped profile. ``compare`` writes JSON and
Markdown: same labels and profiles, largest probability difference, load and predict times of both sides.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

TEXTS = (
    "a gorgeous, witty, seductive movie .",
    "flat and boring .",
    "the acting is uneven , but the story and the music carry it to a satisfying end .",
    "it 's a cookie-cutter movie , a cut-and-paste job .",
)
PROB_TOLERANCE = 1e-4  # the export's logits tolerance; ORT's aarch64 kernels may round differently from x86's


def run(bundle: Path) -> dict:
    """Predictions at dense and each shipped profile's speedup, with the interpreter's platform and timings."""
    import onnxruntime

    started = time.perf_counter()
    from acc.runtime import Runtime

    runtime = Runtime.load(bundle, device="cpu")
    loaded = time.perf_counter()
    predictions = {}
    for profile in runtime.manifest.profiles:
        out = runtime.predict(list(TEXTS), speedup=profile.target_speedup)
        predictions[profile.name] = {"profile": out.profile, "labels": list(out.labels),
                                     "probabilities": [[float(p) for p in row] for row in out.probabilities]}  # fmt: skip
    return {"machine": platform.machine(), "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
            "torch_imported": "torch" in sys.modules, "bundle": bundle.name, "load_s": round(loaded - started, 2),
            "predict_s": round(time.perf_counter() - loaded, 2), "texts": list(TEXTS), "predictions": predictions}  # fmt: skip


def compare(reference: dict, other: dict) -> dict:
    """Equal labels and profiles everywhere, probabilities within PROB_TOLERANCE."""
    rows, max_diff = [], 0.0
    for name, ref in reference["predictions"].items():
        got = other["predictions"].get(name)
        if got is None:
            rows.append({"profile": name, "ok": False, "why": "missing"})
            continue
        diff = max(abs(a - b) for ra, rb in zip(ref["probabilities"], got["probabilities"], strict=True)
                   for a, b in zip(ra, rb, strict=True))  # fmt: skip
        max_diff = max(max_diff, diff)
        same = ref["labels"] == got["labels"] and ref["profile"] == got["profile"]
        rows.append(
            {"profile": name, "ok": same and diff <= PROB_TOLERANCE, "labels_equal": same, "max_prob_diff": diff}
        )
    return {"passed": bool(rows) and all(r["ok"] for r in rows), "max_prob_diff": max_diff, "rows": rows,
            "reference": {k: v for k, v in reference.items() if k != "predictions"},
            "other": {k: v for k, v in other.items() if k != "predictions"}}  # fmt: skip


def markdown(result: dict) -> str:
    ref, other = result["reference"], result["other"]
    lines = [f"# Python runtime on {other['machine']} vs {ref['machine']}: {'same answers' if result['passed'] else 'DIFFERENT'}",
             "", f"Bundle `{ref['bundle']}`, {len(ref['texts'])} sentences at every profile (`Runtime.predict`).", "",
             "| | machine | Python | onnxruntime | torch imported | load s | predict s |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for label, side in (("reference", ref), ("checked", other)):
        lines.append(f"| {label} | {side['machine']} | {side['python']} | {side['onnxruntime']} | {side['torch_imported']} "
                     f"| {side['load_s']} | {side['predict_s']} |")  # fmt: skip
    lines += ["", "| profile | labels and profile equal | max abs probability diff |", "|---|---|---|"]
    for row in result["rows"]:
        lines.append(
            f"| {row['profile']} | {row.get('labels_equal', False)} | {row.get('max_prob_diff', float('nan')):.1e} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="predict with this interpreter, write JSON")
    run_parser.add_argument("bundle", type=Path)
    run_parser.add_argument("--out", type=Path, required=True)
    compare_parser = sub.add_parser("compare", help="compare two run JSONs, write STEM.json and STEM.md")
    compare_parser.add_argument("reference", type=Path)
    compare_parser.add_argument("other", type=Path)
    compare_parser.add_argument("--out", type=Path, required=True, help="stem of the report files")
    args = parser.parse_args(argv)
    if args.command == "run":
        if not (args.bundle / "manifest.json").is_file():
            print(f"error: {args.bundle} has no manifest.json; pass a bundle written by acc-export", file=sys.stderr)
            return 2
        args.out.write_text(json.dumps(run(args.bundle), indent=2) + "\n")
        return 0
    result = compare(json.loads(args.reference.read_text()), json.loads(args.other.read_text()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
