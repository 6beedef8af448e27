"""Render a ``gpu_check2.py`` result: copy the JSON into ``benchmarks/results/`` and write .md + .png beside it.

Rendered from the JSON alone (it can be rerun later without measuring): ``python benchmarks/device/gpu_check2.py
--render RESULT.json`` → ``benchmarks/results/h100-fp16-bert-sst2_<UTC>.{json,md,png}``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SHOWN_IN_PLOT = ("baseline/fp16/cudagraph", "dense/fp16/iobind", "s1.5/fp16/iobind", "s3/fp16/iobind",
                 "s4.8/fp16/iobind", "s4.8/fp32/run", "adjustable-counts@s4.8/fp16/cudagraph")  # fmt: skip


def stem(data: dict) -> str:
    device = str(data.get("device", "device"))
    tag = (
        "h100"
        if "H100" in device
        else ("cpu-smoke" if data.get("smoke") else re.sub(r"[^a-z0-9]+", "-", device.lower()))
    )
    form = "-fused" if data.get("attention") == "fused" else ""
    return f"{tag}{form}-fp16-{data.get('name', 'bundle')}_{data.get('utc', 'unknown')}"


def markdown(data: dict) -> str:
    lines = [f"# {data['name']}: fp16 graphs, IO binding and CUDA graphs on {data['device']} "
             f"(ONNX Runtime {data['onnxruntime']})", "",
             "Reference: the fp32 graph on the CPU EP. `fp16` = encoder fp16, ACC score + keep counts + TopK fp32; "
             "`fp16-all` = score and ranking TopK fp16 too (keep counts stay fp32). Recipe: "
             "`benchmarks/device/gpu_check2.sh`.", ""]  # fmt: skip
    if data.get("attention") == "fused":
        library = data.get("custom_ops_library")
        lines += [f"Graph form: **fused** (ORT `MultiHeadAttention` + `ai.acc::AccScore`, `acc-export --attention fused`); "
                  f"AccScore kernel library: {'`' + Path(library).name + '` (registered on CUDA)' if library else 'none (ONNX body inlined)'}. "
                  "Recipe: `benchmarks/device/fused_gpu.sh`.", ""]  # fmt: skip
    copies = data.get("host_copies") or {}
    if copies:  # static-width graphs (issue #17): recorded by static_gpu.sh
        lines += ["Recipe of this run: `benchmarks/device/static_gpu.sh` (static-width TokenSelect v3).", "",
                  "## Copies in ONNX Runtime's optimized graph on the CUDA EP", "",
                  "MemcpyToHost (device → host) stalls the stream; MemcpyFromHost (host → device) feeds values that "
                  "ORT computed on the CPU EP (shape arithmetic) and rules out CUDA graphs.", "",
                  "| graph | MemcpyToHost | MemcpyFromHost | nodes |", "|---|---|---|---|"]  # fmt: skip
        for name, row in copies.items():
            if "error" in row:
                lines.append(f"| {name} | error: {row['error']} | | |")
            else:
                lines.append(f"| {name} | {row['MemcpyToHost']} | {row['MemcpyFromHost']} | {row['nodes']} |")
        lines.append("")
    rows = data.get("agreement") or []
    if rows:
        examples = next((r["examples"] for r in rows if "examples" in r), "?")
        lines += [f"## Agreement with the CPU fp32 graph on SST-2 dev ({examples})", "",
                  "| graph | precision | label agreement | accuracy | max abs Δ logits (unflipped) | max abs Δ (all) "
                  "| samples with a kept-set flip | max flip rate (any layer) |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['graph']} | {r['precision']} | error: {r['error']} | | | | | |")
                continue
            flips = max(r["flip_rate"].values(), default=0.0)
            lines.append(f"| {r['graph']} | {r['precision']} | {100 * r['label_agreement']:.2f}% | "
                         f"{100 * r['accuracy']:.2f}% | {r['max_abs_diff_unflipped']:.1e} | {r['max_abs_diff_all']:.1e} | "
                         f"{r['samples_with_flips']} | {100 * flips:.2f}% |")  # fmt: skip
        lines.append("")
    latency = data.get("latency") or []
    if latency:
        cells = sorted({(r["batch"], r["seq"]) for r in latency})
        index = {(r["candidate"], r["batch"], r["seq"]): r for r in latency}
        lines += ["## Latency p50 (ms) and paired speedup vs the fused dense baseline in fp16 (`baseline/fp16/run`)",
                  "", "`run` = `session.run`; `iobind` = IO binding (inputs copied once, outputs copied once); "
                  "`cudagraph` = fixed per-bucket buffers + ORT CUDA graph. Theoretical speedup in brackets.", "",
                  "| candidate | " + " | ".join(f"b{b} s{s}" for b, s in cells) + " |", "|---|" + "---|" * len(cells)]  # fmt: skip
        for name in dict.fromkeys(r["candidate"] for r in latency):
            parts = []
            for b, s in cells:
                r = index.get((name, b, s))
                speed = r and r.get("speedup_vs_baseline_fp16")
                theory = r and r.get("theoretical_speedup")
                parts.append("–" if r is None else f"{r['p50_ms']:.2f} ({speed:.2f}x"
                             + (f" / th {theory:.2f})" if theory else ")") if speed is not None else f"{r['p50_ms']:.2f}")  # fmt: skip
            lines.append(f"| {name} | " + " | ".join(parts) + " |")
        lines.append("")
    if data.get("latency_source"):
        lines += [f"Latency source: {data['latency_source']}.", ""]
    failed = data.get("failed") or {}
    if failed:
        lines += ["## Candidates that could not be built or run", "", "| candidate | error |", "|---|---|"]
        lines += [f"| {k} | {v.replace('|', '/')} |" for k, v in failed.items()] + [""]
    base = data.get("baseline") or {}
    lines += [f"Baseline: {base.get('method', '?')}; fused ops "
              f"{ {k: v for k, v in (base.get('fused_ops') or {}).items() if v} }. Setup {data.get('seconds_setup')} s, "
              f"whole run {data.get('seconds')} s.", ""]  # fmt: skip
    return "\n".join(lines)


def plot(data: dict, path: Path) -> None:
    """Grouped bars, one group per measured (batch, seq) cell: runs measure a few cells, often one length per batch,
    so lines over the sequence length would be single points, and candidates with equal speedups would hide each
    other's markers. Bars sit side by side and carry their value."""
    from matplotlib.figure import Figure

    latency = data.get("latency") or []
    speedup = {(r["candidate"], r["batch"], r["seq"]): r.get("speedup_vs_baseline_fp16") for r in latency}
    cells = sorted({(r["batch"], r["seq"]) for r in latency})
    shown = [name for name in SHOWN_IN_PLOT if any(speedup.get((name, b, s)) for b, s in cells)]
    width = 0.8 / max(1, len(shown))
    fig = Figure(figsize=(max(6.0, 1.2 + 0.28 * len(cells) * len(shown)), 4.0))
    ax = fig.subplots()
    for i, name in enumerate(shown):
        at = [(c, speedup[(name, b, s)]) for c, (b, s) in enumerate(cells) if speedup.get((name, b, s))]
        offset = (i - (len(shown) - 1) / 2) * width
        bars = ax.bar([c + offset for c, _ in at], [v for _, v in at], width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=2, rotation=90)  # upright labels would collide
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(cells)), [f"b{b} s{s}" for b, s in cells])
    ax.set_xlabel("batch × sequence length (cells measured in this run)")
    ax.set_ylabel("speedup vs ORT-optimized dense fp16")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never over a bar
    ax.set_ylim(0, 1.2 * max([1.0, *(v for (n, _, _), v in speedup.items() if v and n in shown)]))
    fig.suptitle(f"{data['name']} on {data['device']}: fp16 / IO binding / CUDA graphs", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")


LOG_CELL = re.compile(r"^b(\d+) s(\d+): (.*)$")
LOG_ENTRY = re.compile(r"(\S+) ([0-9.]+)ms")


def latency_from_log(log: Path) -> list[dict]:
    """Latency rows recovered from ``gpu_check2.log`` (one ``bB sS: name 1.23ms ...`` line per finished cell).

    The JSON gets its latency section only when every cell finished; a run that dies in a later cell (the H100 run
    of 2026-11-25 ran out of memory at b128 s512 after a failed CUDA-graph capture) still printed each finished
    cell, and those p50s are what the log holds. Speedups are against ``baseline/fp16/run`` of the same cell.
    """
    rows: list[dict] = []
    for line in log.read_text().splitlines():
        match = LOG_CELL.match(line.strip())
        if not match:
            continue
        batch, seq = int(match.group(1)), int(match.group(2))
        cell = {name: float(ms) for name, ms in LOG_ENTRY.findall(match.group(3))}
        base = cell.get("baseline/fp16/run")
        for name, ms in cell.items():
            rows.append({"candidate": name, "batch": batch, "seq": seq, "p50_ms": ms, "theoretical_speedup": None,
                         "speedup_vs_baseline_fp16": base / ms if base else None})  # fmt: skip
    return rows


def render(source: Path, results_dir: Path) -> list[Path]:
    data = json.loads(Path(source).read_text())
    log = Path(source).with_name("gpu_check2.log")
    if not data.get("latency") and log.exists():
        data["latency"] = latency_from_log(log)
        data["latency_source"] = f"{log.name} (the run stopped before writing latency to the JSON; finished cells only)"
    results_dir.mkdir(parents=True, exist_ok=True)
    base = results_dir / stem(data)
    target = base.with_suffix(".json")
    if Path(source).resolve() != target.resolve():
        target.write_text(json.dumps(data, indent=1))
    base.with_suffix(".md").write_text(markdown(data))
    written = [target, base.with_suffix(".md")]
    if data.get("latency"):
        plot(data, base.with_suffix(".png"))
        written.append(base.with_suffix(".png"))
    return written
