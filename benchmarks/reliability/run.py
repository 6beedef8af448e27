"""The reliability suite of issue #20: re-run it on any bundle, on loopback only; it stops by itself.

    python benchmarks/reliability/run.py --bundle bundles/bert-sst2 [--quick]

Writes ``benchmarks/results/reliability-<model>_<UTC>.{json,md,png}``: the tamper matrix (every listed file and the
manifest x flip/truncate/delete/unlist/symlink/FIFO), manifest mutations (plain and digest-pinned), the bad-input
matrix, server probes under the default limits (oversize bodies, the biggest legal request, 200 slowloris heads,
20 slow bodies, SIGINT with 20 slow clients) and memory per request (split vs one graph run). ``--quick`` skips the
server and memory parts. Not run here: the 16 clients x 5,000 requests soak (benchmarks/load/load_test.py does load).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from matrices import bad_input_matrix, manifest_matrix, tamper_matrix
from server_probe import memory_per_request, server_cases

DEFECTS = ("WRONG ANSWERS", "CRASH", "SLOW", "ANSWERED")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="bundle directory written by acc-export (required unless --render)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "results")
    parser.add_argument("--quick", action="store_true", help="matrices only (no server, no memory runs)")
    parser.add_argument("--sizes", default="16,64,256", help="texts per request for the memory runs")
    parser.add_argument("--unsplit-max", type=int, default=64, help="largest request run as one graph run")
    parser.add_argument("--cap-gb", type=float, default=12.0, help="address-space cap of each memory run")
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="only re-render the Markdown and PNG of an earlier results JSON",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        report = json.loads(args.render.read_text())
        args.render.with_suffix(".md").write_text(render_markdown(report))
        if report.get("memory"):
            plot_memory(report["memory"], args.render.with_suffix(".png"))
        return 0
    if args.bundle is None:
        parser.error("pass --bundle BUNDLE (or --render JSON)")
    from acc.runtime import read_manifest

    manifest = read_manifest(args.bundle)
    speedups: list[float | None] = [None, *[e.profile.target_speedup for e in manifest.profiles[1:]]]
    if manifest.adjustable is not None:
        speedups.append(round(min(s for s in speedups[1:] or [1.2]) + 0.07, 2))  # an ad-hoc speedup: adjustable
    report: dict[str, Any] = {"bundle": str(args.bundle), "model": manifest.model.name, "digest": manifest.digest,
                              "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="acc-reliability-") as work:
        start = time.monotonic()
        report["tamper"] = tamper_matrix(args.bundle, Path(work), speedups)
        report["manifest"] = manifest_matrix(args.bundle, Path(work), speedups)
        report["bad_inputs"] = bad_input_matrix(args.bundle)
        report["matrix_seconds"] = round(time.monotonic() - start, 1)
    if not args.quick:
        report["server"] = server_cases(args.bundle)
        sizes = tuple(int(s) for s in args.sizes.split(","))
        report["memory"] = memory_per_request(args.bundle, sizes, args.unsplit_max, args.cap_gb)
    report["summary"] = summarise(report)
    stem = args.out / f"reliability-{manifest.model.name}_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(render_markdown(report))
    if report.get("memory"):
        plot_memory(report["memory"], stem.with_suffix(".png"))
    print(stem.with_suffix(".md").read_text())
    return 1 if report["summary"]["defects"] else 0


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """Defects: file tampering or bad input that is not refused, and manifest rewrites not refused with the digest
    pinned. A rewritten manifest that loads plainly is what it says (a new bundle): only its digest or signature can
    tell, so its plain outcome is reported but not counted."""
    outcomes = Counter(row["outcome"] for part in ("tamper", "bad_inputs") for row in report[part])
    pinned = Counter(row["with_digest"] for row in report["manifest"])
    plain = Counter(row["outcome"] for row in report["manifest"])
    defects = sum(n for name, n in (outcomes + pinned).items() if name in DEFECTS)
    if "server" in report:
        server = report["server"]
        defects += sum(server[f"body_{mb}mb"]["status"] != 413 for mb in (5, 50))
        defects += server["slowloris_heads"]["answered_408"] != server["slowloris_heads"]["connections"]
        defects += server["slow_bodies"]["answered_408"] != server["slow_bodies"]["connections"]
        defects += server["max_request"]["status"] != 200
    cases = sum(outcomes.values()) + sum(pinned.values())
    return {"cases": cases, "outcomes": dict(outcomes), "manifest_plain": dict(plain),
            "manifest_with_digest": dict(pinned), "defects": defects}  # fmt: skip


def render_markdown(report: dict[str, Any]) -> str:
    summary = report["summary"]
    lines = [f"# Reliability suite: {report['model']} ({report['started_utc']})", "",
             (f"Bundle `{report['bundle']}`, digest `{report['digest']}`. {summary['cases']} cases, "
             f"**{summary['defects']} defects**; files and inputs: {summary['outcomes']}; manifest mutations loaded "
             f"plainly: {summary['manifest_plain']}, with the digest pinned: {summary['manifest_with_digest']}."), "",
             "## Tamper matrix", "", "| file | " + " | ".join(_tampers(report)) + " |",
             "|---|" + "---|" * len(_tampers(report))]  # fmt: skip
    by_file: dict[str, dict[str, str]] = {}
    for row in report["tamper"]:
        by_file.setdefault(row["file"], {})[row["tamper"]] = row["outcome"]
    for name, cells in by_file.items():
        lines.append(f"| {name} | " + " | ".join(cells.get(t, "–") for t in _tampers(report)) + " |")
    lines += [
        "",
        "## Manifest mutations",
        "",
        "| mutation | plain load | digest pinned | detail |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['mutation']} | {r['outcome']} | {r['with_digest']} | {r['detail'][:100]} |" for r in report["manifest"]
    ]
    lines += ["", "## Bad inputs (`Runtime.predict`)", "", "| input | outcome | error |", "|---|---|---|"]
    lines += [f"| {r['input']} | {r['outcome']} | {r['detail'][:110]} |" for r in report["bad_inputs"]]
    if "server" in report:
        lines += ["", "## Server (acc-serve, default limits, loopback)", "", "```",
                  json.dumps(report["server"], indent=2), "```"]  # fmt: skip
    if "memory" in report:
        lines += [
            "",
            "## Memory per request (texts of 512 tokens, fresh process each)",
            "",
            "| mode | texts | peak RSS MB | after load MB | seconds | failed |",
            "|---|---|---|---|---|---|",
        ]
        lines += [f"| {r['mode']} | {r['texts']} | {r.get('peak_mb', '–')} | {r.get('loaded_peak_mb', '–')} | "
                  f"{r.get('seconds', '–')} | {r.get('failed', '')} |" for r in report["memory"]]  # fmt: skip
    return "\n".join(lines) + "\n"


def _tampers(report: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(row["tamper"] for row in report["tamper"]))


def plot_memory(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for mode in dict.fromkeys(row["mode"] for row in rows):
        points = [(r["texts"], r["peak_mb"]) for r in rows if r["mode"] == mode and "peak_mb" in r]
        if points:
            axis.plot(*zip(*points), marker="o", label=mode)
    axis.set_xlabel("texts in one request (512 tokens each)")
    axis.set_ylabel("peak resident memory, MB")
    axis.set_title("Memory per request")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
