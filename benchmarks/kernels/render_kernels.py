"""Render a ``benchmarks/device/kernels_bench.py`` JSON as Markdown + PNG, and check the goals of issue #9.

    python benchmarks/kernels/render_kernels.py $OUT/h100-kernels.json            # -> benchmarks/results/h100-kernels-<UTC>.*
    python benchmarks/kernels/render_kernels.py benchmarks/results/h100-kernels-<UTC>.json   # re-render in place

A JSON outside the results folder is copied there first (named from its start time); .md and .png are rendered
from the JSON alone. Parts that failed on the device show their error instead of a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"
GOAL_CELLS = {(32, 512): {"s3": 2.7, "s4.8": 4.3}}  # measured speedup vs dense the issue asks for
SMALL_CELLS = ((1, 128), (8, 128))  # every profile >= 1.0x, s4.8 >= 2.0x
AGREEMENT_MIN = 0.995


def _rows(data: dict) -> list[dict]:
    return [r for r in data.get("latency", {}).get("rows", []) if "p50_ms" in r]


def _speedup(data: dict, candidate: str, batch: int, seq: int) -> float | None:
    for row in _rows(data):
        if (row["candidate"], row["batch"], row["seq"]) == (candidate, batch, seq):
            return row["speedup_vs_dense"]
    return None


def goals(data: dict) -> list[tuple[str, str, bool | None]]:
    """(goal, measured, met) — met is None where the measurement is missing."""
    out: list[tuple[str, str, bool | None]] = []
    for (batch, seq), targets in GOAL_CELLS.items():
        for profile, target in targets.items():
            got = _speedup(data, f"fused@{profile}", batch, seq)
            out.append(
                (f"{batch}x{seq} fused {profile} >= {target}x", _fmt(got), None if got is None else got >= target)
            )
    for batch, seq in SMALL_CELLS:
        got = {r["profile"]: r["speedup_vs_dense"] for r in _rows(data)
               if r["method"] == "fused" and (r["batch"], r["seq"]) == (batch, seq)}  # fmt: skip
        worst = min(got.values()) if got else None
        out.append(
            (
                f"{batch}x{seq} no fused profile slower than dense",
                _fmt(worst, "min "),
                None if worst is None else worst >= 1.0,
            )
        )
        top = got.get("s4.8")
        out.append((f"{batch}x{seq} fused s4.8 >= 2x", _fmt(top), None if top is None else top >= 2.0))
    accuracy = [r for r in data.get("accuracy", {}).get("rows", []) if r["variant"] == "fused-fp16"]
    worst = min((r["label_agreement"] for r in accuracy), default=None)
    out.append((f"SST-2 dev label agreement fused fp16 vs reference >= {100 * AGREEMENT_MIN:.1f}% (every profile)",
                "-" if worst is None else f"min {100 * worst:.2f}%", None if worst is None else worst >= AGREEMENT_MIN))  # fmt: skip
    correctness = data.get("correctness", {})
    out.append(("kernel vs reference checks pass", "-" if "passed" not in correctness else str(correctness["passed"]),
                correctness.get("passed")))  # fmt: skip
    return out


def _fmt(value: float | None, prefix: str = "") -> str:
    return "-" if value is None else f"{prefix}{value:.2f}x"


def render_markdown(data: dict) -> str:
    env = data.get("env", {})
    lines = [f"# Fused ACC kernels on {env.get('gpu', 'unknown device')} — BERT-base fp16, CUDA graphs", "",
             f"torch {env.get('torch', '?')}, triton {env.get('triton', '?')}, CUDA {env.get('cuda', '?')}, "
             f"compute capability {env.get('compute_capability', '?')}; started {data.get('started_utc', '?')}"
             f"{' — SMOKE RUN (CPU, Triton interpreter, tiny shapes): numbers are meaningless' if data.get('smoke') else ''}.", "",
             "## Goals (issue #9)", "", "| goal | measured | met |", "|---|---|---|"]  # fmt: skip
    lines += [f"| {g} | {m} | {'-' if ok is None else ('yes' if ok else '**no**')} |" for g, m, ok in goals(data)]
    lines += [
        "",
        *_latency_md(data.get("latency", {})),
        *_correctness_md(data.get("correctness", {})),
        *_accuracy_md(data.get("accuracy", {})),
        *_profile_md(data.get("profile", {}), data.get("latency", {})),
    ]
    seconds = data.get("seconds", {})
    lines += ["", f"Wall time per part (s): {', '.join(f'{k} {v}' for k, v in seconds.items())}.", ""]
    return "\n".join(lines)


def _error_md(part: dict, title: str) -> list[str]:
    return [f"## {title}", "", f"Failed on the device: `{part['error']}`", ""]


def _latency_md(part: dict) -> list[str]:
    if "error" in part:
        return _error_md(part, "Latency")
    rows = _rows({"latency": part})
    if not rows:
        return []
    cells = list(dict.fromkeys((r["batch"], r["seq"]) for r in rows))
    names = list(dict.fromkeys(r["candidate"] for r in rows))
    index = {(r["candidate"], r["batch"], r["seq"]): r for r in rows}
    lines = ["## Latency: p50 ms (speedup vs dense, fraction of theoretical)", "",
             f"{part.get('model')}, {part.get('dtype')}, {part.get('inputs')}; CUDA graphs: {part.get('cuda_graphs')}. "
             "`dense` = the same fast pass without selection (fused SDPA); `naive` = attention probabilities "
             "materialised for the score, `acc_score` + top-k/sort/gather in PyTorch; `fused` = SDPA log-sum-exp + "
             "Triton column-sum and selection kernels; `hf-sdpa` = Hugging Face BERT (SDPA) for scale. Theoretical "
             "speedup: FLOPs model at the cell's sequence length.", "",
             "| candidate | " + " | ".join(f"{b}x{s}" for b, s in cells) + " |", "|---|" + "---|" * len(cells)]  # fmt: skip
    for name in names:
        parts = []
        for b, s in cells:
            r = index.get((name, b, s))
            if r is None:
                parts.append("-")
            elif r["method"] in ("dense", "hf-sdpa"):
                parts.append(f"{r['p50_ms']:.3f} ({r['speedup_vs_dense']:.2f}x)")
            else:
                parts.append(f"{r['p50_ms']:.3f} ({r['speedup_vs_dense']:.2f}x, {100 * r['fraction_of_theoretical']:.0f}% of "
                             f"{r['theoretical_speedup']:.2f}x)")  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(parts) + " |")
    errors = [r for r in part.get("rows", []) if "error" in r]
    lines += [""] + [f"- {r['candidate']} {r['batch']}x{r['seq']}: `{r['error']}`" for r in errors]
    lines += [f"- {r['candidate']} {r['batch']}x{r['seq']} timed eagerly, CUDA graph capture failed: `{r['graph_error']}`"
              for r in rows if r.get("graph_error")]  # fmt: skip
    if part.get("skipped_cells"):
        lines.append(f"- cells skipped (time budget): {', '.join(part['skipped_cells'])}")
    if part.get("lse_fallbacks"):
        lines.append(f"- aten attention refused the log-sum-exp, Triton lse kernel used: {part['lse_fallbacks']}")
    return lines + [""]


def _correctness_md(part: dict) -> list[str]:
    if "error" in part:
        return _error_md(part, "Correctness")
    checks = part.get("kernel_checks", [])
    if not checks:
        return []
    lines = ["## Kernels vs PyTorch references", "",
             "| B | N | head dim | dtype | padded | lse from | lse err | score rel err | ±inf ok | kept-set agreement | exact select | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in checks:
        if "error" in c:
            lines.append(f"| {c.get('batch')} | {c.get('seq_len')} | | {c.get('dtype')} | {c.get('padded')} | {c.get('lse_source')} "
                         f"| | | | | | error: `{c['error'][:120]}` |")  # fmt: skip
            continue
        verdict = "pass" if not c["failures"] else "**" + "; ".join(c["failures"]) + "**"
        lines.append(f"| {c['batch']} | {c['seq_len']} | {c['head_dim']} | {c['dtype']} | {c['padded']} | {c['lse_source']} | "
                     f"{c['lse_max_abs_err']:.1e} | {c['score_max_rel_err']:.1e} | {c['score_inf_match']} | "
                     f"{100 * c['kept_set_agreement']:.1f}% | {c['select_exact']} | {verdict} |")  # fmt: skip
    model = part.get("model_check", {})
    lines += [
        "",
        f"Fast path vs reference ACC model (random 4-layer BERT, fp32, padded batch): `{json.dumps(model)[:400]}`",
    ]
    if "pytest" in part:
        pytest = part["pytest"]
        lines.append(
            f"pytest -m gpu tests/modeling/kernels: {pytest.get('skipped') or 'rc ' + str(pytest.get('returncode'))}"
        )
    return lines + [""]


def _accuracy_md(part: dict) -> list[str]:
    if "error" in part:
        return _error_md(part, "Accuracy")
    rows = part.get("rows", [])
    if not rows:
        return []
    lines = [f"## {part.get('model')} on SST-2 dev ({part.get('examples')} examples, max length {part.get('max_length')})", "",
             f"Reference: {part.get('reference_path')}. Kept-set agreement: samples whose kept word-vectors are identical "
             "in every layer (fp16 near-ties flip some).", "",
             "| variant | profile | label agreement | accuracy | reference accuracy | shipped (acc_config) | kept-set agreement | max logit diff (same kept) |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        shipped = "-" if r.get("shipped_accuracy") is None else f"{100 * r['shipped_accuracy']:.2f}%"
        lines.append(f"| {r['variant']} | {r['profile']} | {100 * r['label_agreement']:.2f}% | {100 * r['accuracy']:.2f}% | "
                     f"{100 * r['reference_accuracy']:.2f}% | {shipped} | {100 * r['kept_set_agreement']:.1f}% | "
                     f"{r['max_abs_logit_diff_same_kept']:.1e} |")  # fmt: skip
    pairs = part.get("pairs", [])
    if pairs:
        lines += ["", "Same precision, Triton kernels vs PyTorch ops (what the kernels change, apart from fp16):", "",
                  "| a | b | profile | label agreement | kept-set agreement | max logit diff (same kept) |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        lines += [f"| {p['a']} | {p['b']} | {p['profile']} | {100 * p['label_agreement']:.2f}% | "
                  f"{100 * p['kept_set_agreement']:.1f}% | {p['max_abs_logit_diff_same_kept']:.1e} |" for p in pairs]  # fmt: skip
    if part.get("skipped_variants"):
        lines.append(f"- variants skipped (time budget): {', '.join(part['skipped_variants'])}")
    return lines + [""]


def _profile_md(part: dict, latency: dict) -> list[str]:
    if "error" in part:
        return _error_md(part, "Where the time goes")
    graph_ms = {(r["candidate"], r["batch"], r["seq"]): r["p50_ms"] for r in _rows({"latency": latency})}
    lines = []
    for cell in part.get("cells", []):
        candidates = cell["candidates"]
        groups = list(dict.fromkeys(g for c in candidates.values() for g in c["groups_us_per_pass"]))
        lines += [f"## Where the time goes at {cell['batch']}x{cell['seq']}: kernel µs per pass (torch.profiler, eager)", "",
                  "| group | " + " | ".join(candidates) + " |", "|---|" + "---|" * len(candidates)]  # fmt: skip
        for group in groups:
            lines.append(
                f"| {group} | "
                + " | ".join(f"{c['groups_us_per_pass'].get(group, 0.0):.0f}" for c in candidates.values())
                + " |"
            )
        lines.append(
            "| **sum of kernel time** | "
            + " | ".join(f"{c['device_us_per_pass']:.0f}" for c in candidates.values())
            + " |"
        )
        lines.append(
            "| kernels per pass | "
            + " | ".join(f"{c.get('kernels_per_pass', 0):.0f}" for c in candidates.values())
            + " |"
        )
        replay = [graph_ms.get((name, cell["batch"], cell["seq"])) for name in candidates]
        lines.append(
            "| CUDA-graph p50 (latency table), µs | "
            + " | ".join("-" if r is None else f"{1e3 * r:.0f}" for r in replay)
            + " |"
        )
        for name, c in candidates.items():
            if name.startswith("fused"):
                lines += [
                    "",
                    f"Top kernels, {name}:",
                    "",
                    "| kernel | group | calls/pass | µs/pass |",
                    "|---|---|---|---|",
                ]
                lines += [f"| `{k['name'][:90]}` | {k['group']} | {k['calls_per_pass']:.0f} | {k['us_per_pass']:.0f} |"
                          for k in c["top_kernels"][:12]]  # fmt: skip
        lines.append("")
    return lines


def render_png(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in _rows(data) if r["method"] in ("naive", "fused")]
    cells = list(dict.fromkeys((r["batch"], r["seq"]) for r in rows))
    if not cells:
        return
    profiles = list(dict.fromkeys(r["profile"] for r in rows))
    fig, axes = plt.subplots(1, len(cells), figsize=(3.2 * len(cells), 3.6), sharey=True, squeeze=False)
    for ax, (batch, seq) in zip(axes[0], cells):
        x = range(len(profiles))
        for offset, method in ((-0.2, "naive"), (0.2, "fused")):
            values = [_speedup(data, f"{method}@{p}", batch, seq) or 0.0 for p in profiles]
            ax.bar([i + offset for i in x], values, width=0.4, label=method)
        theory = [next((r["theoretical_speedup"] for r in rows if r["profile"] == p and (r["batch"], r["seq"]) == (batch, seq)), 0.0)
                  for p in profiles]  # fmt: skip
        ax.scatter(list(x), theory, marker="_", s=600, color="black", label="theoretical", zorder=3)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xticks(list(x), profiles)
        ax.set_title(f"{batch}x{seq}")
    axes[0][0].set_ylabel("speedup vs dense (fused SDPA)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(
        f"ACC measured vs theoretical speedup — {data.get('env', {}).get('gpu', '?')}, BERT-base fp16, CUDA graphs"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _stamp(data: dict) -> str:
    started = data.get("started_utc", "")
    return started.replace("-", "").replace(":", "")[:13] + "Z" if started else "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Render kernels_bench JSON as Markdown + PNG under benchmarks/results."
    )
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where a device JSON is copied to")
    parser.add_argument("--prefix", default="h100-kernels")
    args = parser.parse_args(argv)
    for source in args.results:
        try:
            data = json.loads(source.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            print(f"error: cannot read {source} ({exc}); pass a JSON written by kernels_bench.py", file=sys.stderr)
            return 2
        target = source
        if source.resolve().parent != args.results_dir.resolve():
            args.results_dir.mkdir(parents=True, exist_ok=True)
            target = args.results_dir / f"{args.prefix}-{_stamp(data)}.json"
            shutil.copyfile(source, target)
        target.with_suffix(".md").write_text(render_markdown(data))
        render_png(data, target.with_suffix(".png"))
        print(f"wrote {target}, {target.with_suffix('.md').name}, {target.with_suffix('.png').name}")
        for goal, measured, met in goals(data):
            print(f"  {'MET ' if met else 'MISS' if met is False else '  - '} {goal}: {measured}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
