"""Render the TokenSelect function body and one pruned layer of an exported graph as PNG (needs graphviz `dot`).

Usage: python docs/render_graphs.py BUNDLE_DIR [OUT_DIR]   (writes token_select.png and layer.png)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx


def _to_dot(nodes: list[onnx.NodeProto], inputs: list[str], outputs: list[str]) -> str:
    """A plain graphviz description: ops as boxes, graph inputs/outputs as ellipses, edges by tensor name."""
    lines = ["digraph G {", "rankdir=TB;", 'node [fontname="Helvetica", fontsize=11];']
    producer: dict[str, str] = {}
    for name in inputs:
        producer[name] = f"in_{len(producer)}"
        lines.append(f'{producer[name]} [label="{name}", shape=ellipse, style=filled, fillcolor="#dfefff"];')
    for index, node in enumerate(nodes):
        color = "#ffd7a8" if node.op_type in ("TopK", "GatherElements", "TokenSelect") else "#eeeeee"
        lines.append(f'n{index} [label="{node.op_type}", shape=box, style="filled,rounded", fillcolor="{color}"];')
        for tensor in node.input:
            if tensor in producer:
                lines.append(f"{producer[tensor]} -> n{index};")
        for tensor in node.output:
            producer[tensor] = f"n{index}"
    for name in outputs:
        if name in producer:
            lines.append(f'out_{name} [label="{name}", shape=ellipse, style=filled, fillcolor="#dfffdf"];')
            lines.append(f"{producer[name]} -> out_{name};")
    lines.append("}")
    return "\n".join(lines)


def _render(nodes: list[onnx.NodeProto], inputs: list[str], outputs: list[str], name: str, out: Path) -> Path:
    dot_path = out / f"{name}.dot"
    dot_path.write_text(_to_dot(nodes, inputs, outputs))
    png = out / f"{name}.png"
    subprocess.run(["dot", "-Tpng", "-Gdpi=70", str(dot_path), "-o", str(png)], check=True)
    dot_path.unlink()
    return png


def main(argv: list[str]) -> int:
    bundle = Path(argv[0])
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).parent / "img"
    out.mkdir(parents=True, exist_ok=True)
    proto = onnx.load(str(bundle / "graphs" / "s3.onnx"), load_external_data=False)
    function = next(f for f in proto.functions if f.name == "TokenSelect")
    body = [n for n in function.node if n.op_type != "Constant"]
    print(_render(body, list(function.input), list(function.output), "token_select", out))
    # The main-graph nodes between the first TokenSelect and the next one: one pruned layer as exported.
    nodes = list(proto.graph.node)
    selects = [i for i, n in enumerate(nodes) if n.op_type == "TokenSelect"]
    layer = [n for n in nodes[selects[0] : selects[1] + 1] if n.op_type not in ("Constant", "Identity")]
    print(_render(layer, [], [], "pruned_layer", out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
