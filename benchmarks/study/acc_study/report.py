"""Merge the study's parts into one report (JSON, the source of truth), then render Markdown and a PNG from it.

The reading the Markdown gives is computed, not written by hand: where each method first falls more than 0.75 and
1.5 points below the dense model (linear between evaluated points), every method's accuracy interpolated at common
speedups with the best one marked, and the dev set's resolution (one sentence = 0.11 points; binomial standard
error ≈ 1.1 points), so small gaps are not read as wins.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .options import StudyError
from .stages import PART_KIND, SCHEMA_VERSION

REPORT_KIND = "acc-study"
THRESHOLDS_PTS = (0.75, 1.5)
COMMON_SPEEDUPS = (1.5, 2.0, 3.0, 4.0, 4.8)
X_KEY = "theoretical_speedup_128"
# Plot and table order; anything else follows in the order found.
METHOD_ORDER = ("dense", "post-hoc-acc", "power-bert", "lat", "acc-offline", "acc-search", "acc-search-latency")


@dataclass(frozen=True)
class StudyFiles:
    json: Path
    markdown: Path
    png: Path


def merge_parts(paths: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
    """One report from the parts of every device call; points of a method found in several parts are merged."""
    parts = [_read_part(Path(p)) for p in paths]
    if not parts:
        raise StudyError("no study parts given; pass the study-*.json files the device calls wrote")
    smoke = {bool(p["options"].get("smoke")) for p in parts}
    dev = {p["data"]["dev_examples"] for p in parts}
    if len(smoke) > 1 or len(dev) > 1:
        raise StudyError(f"parts mix smoke and full runs or dev sizes ({sorted(dev)}); merge parts of one study only")
    methods: dict[str, dict[str, Any]] = {}
    for part in parts:
        for method in part["methods"]:
            entry = methods.setdefault(method["method"], {"method": method["method"], "label": method["label"],
                                                          "points": [], "runs": []})  # fmt: skip
            entry["points"].extend(method["points"])
            entry["runs"].append({k: v for k, v in method.items() if k not in ("method", "label", "points")}
                                 | {"stage": part["stage"]})  # fmt: skip
    if "dense" not in methods:
        raise StudyError("no dense part among the inputs; pass the dense stage's study-dense.json as well")
    for entry in methods.values():
        entry["points"].sort(key=lambda p: p[X_KEY])
        entry["train_steps"] = max(run.get("train_steps", 0) for run in entry["runs"])
    ordered = sorted(methods.values(), key=lambda m: _order(m["method"]))
    report = {
        "schema_version": SCHEMA_VERSION,
        "kind": REPORT_KIND,
        "created_utc": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "smoke": smoke.pop(),
        "dev_examples": dev.pop(),
        "dense_accuracy": methods["dense"]["points"][0]["accuracy"],
        "parts": [{k: p[k] for k in ("stage", "created_utc", "environment", "data", "options")} for p in parts],
        "methods": ordered,
    }
    report["crossings"] = crossings(report)
    report["at_speedups"] = at_speedups(report, COMMON_SPEEDUPS)
    return report


def curve(report: dict[str, Any], method: dict[str, Any]) -> list[tuple[float, float]]:
    """(theoretical speedup @128, accuracy) of a method; PoWER-BERT starts at the dense model it was made from."""
    points = [(p[X_KEY], p["accuracy"]) for p in method["points"]]
    if method["method"] == "power-bert":
        points = [(1.0, report["dense_accuracy"])] + points
    return sorted(points)


def crossings(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per method and threshold: the first speedup where accuracy falls more than the threshold below dense."""
    dense = report["dense_accuracy"]
    rows = []
    for method in report["methods"]:
        if method["method"] == "dense":
            continue
        points = curve(report, method)
        for threshold in THRESHOLDS_PTS:
            drops = [(s, 100.0 * (dense - a)) for s, a in points]
            first = next((i for i, (_, d) in enumerate(drops) if d > threshold), None)
            row = {"method": method["method"], "threshold_pts": threshold, "crossing_speedup": None,
                   "last_within": None, "first_below": None}  # fmt: skip
            if first is None:
                row.update(
                    last_within=drops[-1][0], status=f"never more than {threshold} below up to {drops[-1][0]:.2f}x"
                )
            elif first == 0:
                row.update(first_below=drops[0][0], status=f"already {drops[0][1]:.2f} below at {drops[0][0]:.2f}x")
            else:
                (s0, d0), (s1, d1) = drops[first - 1], drops[first]
                at = s0 + (threshold - d0) / (d1 - d0) * (s1 - s0)
                row.update(crossing_speedup=at, last_within=s0, first_below=s1,
                           status=f"≈{at:.2f}x (between {s0:.2f}x and {s1:.2f}x)")  # fmt: skip
            rows.append(row)
    return rows


def at_speedups(report: dict[str, Any], speedups: Sequence[float]) -> dict[str, Any]:
    """Every method's accuracy linearly interpolated at ``speedups`` (None outside its evaluated range)."""
    rows = []
    for method in report["methods"]:
        if method["method"] == "dense":
            continue
        points = curve(report, method)
        rows.append({"method": method["method"], "accuracy": [_interp(points, s) for s in speedups]})
    return {"speedups": list(speedups), "rows": rows}


def write_report(report: dict[str, Any], output_dir: str | os.PathLike[str], name: str = "sst2") -> StudyFiles:
    """``accuracy-<name>_<UTC>.json`` (atomic, never overwritten), then its ``.md`` and ``.png``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"accuracy-{name}{'-smoke' if report.get('smoke') else ''}_{report['created_utc']}"
    target = stem.with_suffix(".json")
    if target.exists():
        raise StudyError(f"{target} exists; results files are never overwritten, wait a second and render again")
    handle = tempfile.NamedTemporaryFile("w", dir=out, prefix=f".{target.name}.", delete=False, encoding="utf-8")
    try:
        with handle:
            handle.write(json.dumps(report, indent=2, allow_nan=False) + "\n")
        os.chmod(handle.name, 0o644)  # the temp file is created 0600
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return render_files(target)


def render_files(json_path: str | os.PathLike[str]) -> StudyFiles:
    """(Re)write ``<stem>.md`` and ``<stem>.png`` from ``<stem>.json`` alone."""
    path = Path(json_path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise StudyError(
            f"cannot read study report {path} ({exc}); pass an accuracy-*.json written by run.sh render"
        ) from exc
    if report.get("kind") != REPORT_KIND:
        raise StudyError(
            f"{path} is not a study report (kind {report.get('kind')!r}); render one written by run.sh render"
        )
    files = StudyFiles(path, path.with_suffix(".md"), path.with_suffix(".png"))
    files.markdown.write_text(render_markdown(report, files.png.name), encoding="utf-8")
    render_png(report, files.png)
    return files


def render_markdown(report: dict[str, Any], png_name: str | None = None) -> str:
    dense = report["dense_accuracy"]
    n = report["dev_examples"]
    env = report["parts"][0]["environment"]
    opts = report["parts"][0]["options"]
    se = 100.0 * math.sqrt(dense * (1 - dense) / n)
    title = "SMOKE RUN (tiny data, CPU) — not a result" if report.get("smoke") else "SST-2 dev"
    lines = [f"# Accuracy vs theoretical speedup: {title} ({report['created_utc']})", ""]
    lines += ["| | |", "|---|---|"]
    lines += [f"| device | {', '.join(sorted({p['environment']['device_name'] for p in report['parts']}))} |",
              f"| versions | torch {env['torch']}, transformers {env['transformers']}, acc-deploy {env['acc-deploy']} |",
              f"| budget | {opts['epochs']} epochs, batch {opts['batch_size']}, lr {opts['lr']:g}, max length "
              f"{opts['max_length']}, bf16 autocast {'on' if opts['amp'] else 'off'} |",
              f"| data | train {report['parts'][0]['data']['train_examples']} (SST-2 train minus held-out), held-out "
              f"{report['parts'][0]['data']['heldout_examples']} (searches rank on it), dev {n} (reported) |",
              f"| x axis | theoretical encoder speedup at {opts['reference_length']} tokens "
              "(FLOPs model, docs/METHOD.md#3-flops-model) |",
              f"| dense | **{100 * dense:.2f}%**; one dev sentence = {100 / n:.2f} points, binomial SE ≈ {se:.1f} points |",
              ""]  # fmt: skip
    if png_name:
        lines += [f"![accuracy vs speedup]({png_name})", ""]
    lines += ["## Where each method falls below dense", "",
              "First speedup at which dev accuracy is more than the threshold below the dense model, linear between "
              "evaluated points (PoWER-BERT's curve starts at the dense model it is made from).", "",
              _row(["method", "training steps", "> 0.75 pts below", "> 1.5 pts below"]), _row(["---"] * 4)]  # fmt: skip
    by_method = {}
    for row in report["crossings"]:
        by_method.setdefault(row["method"], {})[row["threshold_pts"]] = row["status"]
    for method in report["methods"]:
        if method["method"] in by_method:
            c = by_method[method["method"]]
            lines.append(_row([method["method"], _steps(method), c.get(0.75, "-"), c.get(1.5, "-")]))
    lines += ["", "## Accuracy at common speedups (interpolated)", ""]
    speedups = report["at_speedups"]["speedups"]
    lines += [_row(["method"] + [f"{s:g}x" for s in speedups]), _row(["---"] * (len(speedups) + 1))]
    columns = list(zip(*[row["accuracy"] for row in report["at_speedups"]["rows"]])) or [()] * len(speedups)
    best = [max((a for a in col if a is not None), default=None) for col in columns]
    for row in report["at_speedups"]["rows"]:
        cells = []
        for a, top in zip(row["accuracy"], best):
            text = "-" if a is None else f"{100 * a:.2f} ({100 * (a - dense):+.2f})"
            cells.append(f"**{text}**" if a is not None and a == top else text)
        lines.append(_row([row["method"]] + cells))
    lines += ["", "## Reading", ""] + _reading(report, se) + ["", "## Methods", ""]
    for method in report["methods"]:
        lines.append(f"- **{method['method']}**: {method['label']}.")
    lines += ["", "## All evaluated profiles", ""]
    header = ["method", "profile", "keep ratios", "@64", "@128", "@512", "kept", "dev acc", "Δ pts", "held-out acc"]
    lines += [_row(header), _row(["---"] * len(header))]
    for method in report["methods"]:
        for p in method["points"]:
            held = p.get("heldout_accuracy")
            lines.append(_row([method["method"], p["profile"], ", ".join(f"{r:.3g}" for r in p["keep_ratios"]),
                               f"{p['theoretical_speedup_64']:.2f}x", f"{p['theoretical_speedup_128']:.2f}x",
                               f"{p['theoretical_speedup_512']:.2f}x", f"{100 * p['kept_fraction']:.1f}%",
                               f"{100 * p['accuracy']:.2f}%", f"{100 * (p['accuracy'] - dense):+.2f}",
                               "-" if held is None else f"{100 * held:.2f}%"]))  # fmt: skip
    lines.append("")
    return "\n".join(lines)


def _reading(report: dict[str, Any], se_pts: float) -> list[str]:
    """Sentences computed from the table: at each common speedup, how ACC's best curve compares with the best other."""
    rows = {row["method"]: row["accuracy"] for row in report["at_speedups"]["rows"]}
    acc_methods = [m for m in rows if m.startswith("acc-")]
    others = [m for m in rows if not m.startswith("acc-")]
    lines = []
    for index, speedup in enumerate(report["at_speedups"]["speedups"]):
        acc = max(((rows[m][index], m) for m in acc_methods if rows[m][index] is not None), default=None)
        other = max(((rows[m][index], m) for m in others if rows[m][index] is not None), default=None)
        if acc is None or other is None:
            continue
        gap = 100.0 * (acc[0] - other[0])
        verdict = "ACC ahead" if gap > 0 else "ACC behind" if gap < 0 else "tie"
        lines.append(f"- {speedup:g}x: best ACC curve {acc[1]} {100 * acc[0]:.2f}%, best other {other[1]} "
                     f"{100 * other[0]:.2f}% → {verdict} by {abs(gap):.2f} points"
                     + (" (within one standard error: not a measured difference)" if abs(gap) < se_pts else ""))  # fmt: skip
    return lines or ["- no speedup where both ACC and another method were evaluated"]


def render_png(report: dict[str, Any], path: Path) -> Path:
    """Accuracy (%) vs theoretical speedup @128: one curve per method, dense line and the −0.75/−1.5 lines."""
    import matplotlib
    from matplotlib.figure import Figure

    dense = 100.0 * report["dense_accuracy"]
    fig = Figure(figsize=(8.0, 5.2))
    ax = fig.subplots()
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "os^Dv<>P*X"
    for index, method in enumerate(m for m in report["methods"] if m["method"] != "dense"):
        points = curve(report, method)
        style = ":" if method["method"] == "post-hoc-acc" else "-"
        ax.plot([s for s, _ in points], [100 * a for _, a in points], linestyle=style, marker=markers[index % 10],
                color=colours[index % len(colours)], label=method["method"], linewidth=1.5, markersize=5)  # fmt: skip
    ax.axhline(dense, color="black", linewidth=1.0, label=f"dense {dense:.2f}%")
    for threshold, style in zip(THRESHOLDS_PTS, ("--", "-.")):
        ax.axhline(dense - threshold, color="grey", linestyle=style, linewidth=0.8, label=f"dense − {threshold}")
    ax.set_xlabel(f"theoretical encoder speedup at {report['parts'][0]['options']['reference_length']} tokens")
    ax.set_ylabel(f"SST-2 dev accuracy (%), {report['dev_examples']} sentences")
    ax.set_xlim(left=0.9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    device = ", ".join(sorted({p["environment"]["device_name"] for p in report["parts"]}))
    smoke = " — SMOKE RUN, not a result" if report.get("smoke") else ""
    fig.suptitle(f"accuracy vs speedup, MiniLM-L6 on SST-2 ({report['created_utc']}, {device}){smoke}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def _read_part(path: Path) -> dict[str, Any]:
    try:
        part = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise StudyError(
            f"cannot read study part {path} ({exc}); pass the study-*.json files a device call wrote"
        ) from exc
    if part.get("kind") != PART_KIND or part.get("schema_version") != SCHEMA_VERSION:
        raise StudyError(f"{path} is not a study part of schema {SCHEMA_VERSION} (kind {part.get('kind')!r}); "
                         "pass the study-*.json files a device call wrote")  # fmt: skip
    return part


def _interp(points: Sequence[tuple[float, float]], x: float) -> float | None:
    if not points or x < points[0][0] - 1e-9 or x > points[-1][0] + 1e-9:
        return None
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def _order(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def _steps(method: dict[str, Any]) -> str:
    runs = method["runs"]
    configs = {
        phase.get("configs_per_step") for run in runs for phase in run.get("train", []) if phase.get("configs_per_step")
    }
    per = f", {'/'.join(str(c) for c in sorted(configs))} configs/step" if configs else ""
    return f"{method['train_steps']}{per}" if method["train_steps"] else "0"


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"
