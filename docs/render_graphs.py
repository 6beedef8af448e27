"""Render the ``TokenSelect`` function body and one pruned layer of an exported graph (DOT text + PNG via graphviz).

    python docs/render_graphs.py                 # token_select.dot/.png from the exporter's current function
    python docs/render_graphs.py BUNDLE          # also pruned_layer.dot/.png from BUNDLE's first pruned profile
    python docs/render_graphs.py --check         # exit 1 if the committed DOT/PNG no longer match (no graphviz)

The DOT files are committed beside the PNGs and each PNG carries the sha256 of the DOT it was drawn from (a PNG
tEXt chunk), so ``tests/test_docs_graphs.py`` notices when the function changes and the pictures do not. Needs
graphviz's ``dot`` to draw (``apt-get install graphviz``); ``--check`` does not.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

IMG = Path(__file__).resolve().parent / "img"
DOT_HASH_KEY = "acc-dot-sha256"
RERENDER = "python docs/render_graphs.py"
_HIGHLIGHT = ("TopK", "Gather", "GatherElements", "TokenSelect", "AccScore")


def to_dot(nodes: list[onnx.NodeProto], inputs: list[str], outputs: list[str]) -> str:
    """A plain graphviz description: ops as boxes, inputs/outputs as ellipses, edges by tensor name."""
    lines = ["digraph G {", "rankdir=TB;", 'node [fontname="Helvetica", fontsize=11];']
    producer: dict[str, str] = {}
    for name in inputs:
        producer[name] = f"in_{len(producer)}"
        lines.append(f'{producer[name]} [label="{name}", shape=ellipse, style=filled, fillcolor="#dfefff"];')
    for index, node in enumerate(nodes):
        color = "#ffd7a8" if node.op_type in _HIGHLIGHT else "#eeeeee"
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
    return "\n".join(lines) + "\n"


def token_select_dot() -> str:
    """The body of ``ai.acc::TokenSelect`` as the exporter builds it now (Constants left out)."""
    from acc.exporter.token_select import token_select_function

    function = token_select_function()
    body = [node for node in function.node if node.op_type != "Constant"]
    return to_dot(body, list(function.input), list(function.output))


def pruned_layer_dot(bundle: Path) -> str:
    """The main-graph nodes from the first ``TokenSelect`` to the next one in the bundle's first pruned profile."""
    import json

    import onnx

    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    pruned = [p for p in manifest["profiles"] if p["name"] != "dense"]
    if not pruned:
        raise SystemExit(f"error: bundle {bundle} has no pruned profile; export it with --speedups 3")
    proto = onnx.load(str(bundle / pruned[0]["graph"]), load_external_data=False)
    nodes = list(proto.graph.node)
    selects = [i for i, n in enumerate(nodes) if n.op_type == "TokenSelect"]
    if len(selects) < 2:
        raise SystemExit(f"error: {pruned[0]['graph']} has {len(selects)} TokenSelect node(s), the picture needs "
                         "two; pass a bundle of a model with at least 3 layers exported without --inline")  # fmt: skip
    layer = [n for n in nodes[selects[0] : selects[1] + 1] if n.op_type not in ("Constant", "Identity")]
    return to_dot(layer, [], [])


def dot_sha256(dot: str) -> str:
    return hashlib.sha256(dot.encode()).hexdigest()


def png_text(png: bytes) -> dict[str, str]:
    """The PNG's tEXt chunks (keyword → text)."""
    found, at = {}, 8
    while at + 8 <= len(png):
        (length,), kind = struct.unpack(">I", png[at : at + 4]), png[at + 4 : at + 8]
        if kind == b"tEXt":
            key, _, value = png[at + 8 : at + 8 + length].partition(b"\0")
            found[key.decode("latin-1")] = value.decode("latin-1")
        at += 12 + length
    return found


def with_text(png: bytes, key: str, value: str) -> bytes:
    """``png`` with one tEXt chunk added right after IHDR (the header chunk, always 25 bytes in)."""
    data = key.encode("latin-1") + b"\0" + value.encode("latin-1")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return png[:33] + chunk + png[33:]


def render(dot: str, name: str, out: Path) -> Path:
    """Write ``name.dot`` and ``name.png`` (drawn by graphviz, tagged with the DOT's sha256)."""
    if shutil.which("dot") is None:
        raise SystemExit(f"error: graphviz's dot is not installed; apt-get install graphviz, then run {RERENDER}")
    (out / f"{name}.dot").write_text(dot)
    png = subprocess.run(["dot", "-Tpng", "-Gdpi=70"], input=dot.encode(), capture_output=True, check=True).stdout
    path = out / f"{name}.png"
    path.write_bytes(with_text(png, DOT_HASH_KEY, dot_sha256(dot)))
    return path


def stale(out: Path = IMG) -> list[str]:
    """What no longer matches: the committed token_select.dot vs the function, each PNG vs its DOT."""
    problems = []
    committed = out / "token_select.dot"
    if not committed.is_file() or committed.read_text() != token_select_dot():
        problems.append(f"{committed.name} differs from the exporter's TokenSelect body")
    for name in ("token_select", "pruned_layer"):
        dot, png = out / f"{name}.dot", out / f"{name}.png"
        if not dot.is_file() or not png.is_file():
            problems.append(f"{name}.dot or {name}.png is missing")
        elif png_text(png.read_bytes()).get(DOT_HASH_KEY) != dot_sha256(dot.read_text()):
            problems.append(f"{png.name} was not drawn from {dot.name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter,
                                     epilog="examples:\n" + "\n".join(__doc__.split("\n\n")[1].splitlines()))  # fmt: skip
    parser.add_argument("bundle", nargs="?", type=Path, default=None, help="bundle for pruned_layer (optional)")
    parser.add_argument("-o", "--output", type=Path, default=IMG, help="folder for the .dot and .png files")
    parser.add_argument("--check", action="store_true", help="only check that the committed files are current")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(args.output)
        for problem in problems:
            print(f"error: docs/img/{problem}; re-render with {RERENDER} [BUNDLE]", file=sys.stderr)
        return 1 if problems else 0
    args.output.mkdir(parents=True, exist_ok=True)
    print(render(token_select_dot(), "token_select", args.output))
    if args.bundle is not None:
        print(render(pruned_layer_dot(args.bundle), "pruned_layer", args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
