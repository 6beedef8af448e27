"""Export one ACC graph (a fixed profile, or the adjustable graph) from PyTorch to ONNX.

We use the TorchScript exporter (``torch.onnx.export(dynamo=False)``): token selection has a data-dependent
output length, which it records as one ``ai.acc::TokenSelect`` node through a symbolic, while torch.export would
need unbacked symbolic sizes through every later layer. The function body is attached afterwards.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from acc.profiles import ExportError, Profile, pruned_layers

from .config import AccOnnxConfig
from .token_select import DOMAIN, DOMAIN_VERSION, FUNCTION_NAME, OPSET, token_select_function, traceable_select

if TYPE_CHECKING:
    from collections.abc import Callable

    import onnx

    from acc.modeling.model import AccEncoderForSequenceClassification

MAX_IR_VERSION = 10
ADJUSTABLE_NAME = "adjustable"
KEEP_RATIOS_INPUT = "keep_ratios"


@dataclass(frozen=True)
class GraphSpec:
    """What to export: a named fixed profile, or the adjustable graph (``profile=None``)."""

    name: str
    profile: Profile | None

    @property
    def adjustable(self) -> bool:
        return self.profile is None


@dataclass(frozen=True)
class ExportedGraph:
    """An exported graph file and what it contains."""

    spec: GraphSpec
    path: Path
    select_layers: tuple[int, ...]  # 0-based layers preceded by a TokenSelect node
    output_names: tuple[str, ...]
    # Token inputs the graph takes (no token_type_ids for families without segments); () = not recorded, feed all.
    input_names: tuple[str, ...] = ()


class _ExportWrapper(nn.Module):
    """Fixes the profile (or takes the ratios as an input) and returns plain tensors for the exporter.

    Positional inputs follow the config: ``input_ids, attention_mask[, token_type_ids][, keep_ratios]``.
    """

    def __init__(
        self, model: AccEncoderForSequenceClassification, spec: GraphSpec, select_layers: list[int], token_types: bool
    ) -> None:
        super().__init__()
        self.model = model
        self.spec = spec
        self.select_layers = select_layers
        self.token_types = token_types

    def forward(self, input_ids, attention_mask, *rest):  # noqa: ANN001, ANN002, ANN201
        token_type_ids = rest[0] if self.token_types else None
        keep_ratios = rest[-1] if self.spec.adjustable else None
        ratios = keep_ratios if self.spec.adjustable else list(self.spec.profile.keep_ratios)
        out = self.model(
            input_ids, attention_mask, token_type_ids, keep_ratios=ratios, select_layers=self.select_layers
        )
        return (out.logits, *kept_index_outputs(out.kept_positions, out.kept_masks, self.select_layers))


def kept_index_name(layer: int) -> str:
    """Output name of the original positions entering 0-based ``layer`` (named 1-based, as in the method)."""
    return f"kept_index_{layer + 1}"


def kept_index_outputs(
    kept_positions: list[torch.Tensor], kept_masks: list[torch.Tensor], select_layers: list[int]
) -> list[torch.Tensor]:
    """The ``kept_index_*`` outputs: original positions entering each selecting layer, −1 in padded slots."""
    return [
        torch.where(kept_masks[layer] > 0, kept_positions[layer], torch.full_like(kept_positions[layer], -1))
        for layer in select_layers
    ]


def export_graph(
    model: AccEncoderForSequenceClassification,
    spec: GraphSpec,
    path: str | Path,
    config: AccOnnxConfig,
    sample_length: int = 16,
    attention: str = "eager",
) -> ExportedGraph:
    """Trace ``model`` under ``spec`` into a self-contained ONNX file (weights embedded; see ``weights.py``).

    The sample batch has two rows of different valid lengths so no shape is specialised on the trace.
    ``attention="fused"`` writes the fused form (``fused_attention.py``): ONNX Runtime attention and
    ``ai.acc::AccScore`` instead of materialised probabilities, with ORT's layer fusions (``layer_fusions.py``).
    """
    from .fused_attention import check_attention_form, fused_attention

    path = Path(path)
    num_layers = model.num_layers
    select_layers = token_select_layers(spec, num_layers)
    wrapper = _ExportWrapper(model, spec, select_layers, "token_type_ids" in config.inputs).eval()
    input_names = list(config.inputs)
    sample = config.sample_inputs(batch=2, seq_len=sample_length)
    args = tuple(sample[name] for name in input_names)
    dynamic_axes = {name: dict(axes) for name, axes in config.inputs.items()}
    if spec.adjustable:
        input_names.append(KEEP_RATIOS_INPUT)
        args = (*args, torch.ones(num_layers, dtype=torch.float32))
    output_names = ["logits"] + [kept_index_name(layer) for layer in select_layers]
    dynamic_axes["logits"] = {0: "batch"}
    for layer in select_layers:
        dynamic_axes[kept_index_name(layer)] = {0: "batch", 1: f"kept_{layer + 1}"}

    previous = model.selector, model.attention_runner
    model.selector = traceable_select
    if check_attention_form(attention) == "fused":
        model.attention_runner = fused_attention
    fused = attention == "fused"
    try:
        export_onnx_graph(
            wrapper,
            args,
            path,
            input_names,
            output_names,
            dynamic_axes,
            spec.name,
            custom_opsets=used_domains(bool(select_layers), fused=fused),
            rewrite=_layer_fusions(model.shape.num_heads, model.shape.hidden_size) if fused else None,
        )
    finally:
        model.selector, model.attention_runner = previous
    return ExportedGraph(spec, path, tuple(select_layers), tuple(output_names), tuple(config.inputs))


def _layer_fusions(num_heads: int, hidden_size: int) -> Callable[[onnx.ModelProto], None]:
    """The fused form's ORT fusions (``layer_fusions``: SkipLayerNormalization, BiasGelu, packed Attention in unscored
    layers), checked after."""

    def rewrite(proto: onnx.ModelProto) -> None:
        import onnx

        from .layer_fusions import fuse_layers

        fuse_layers(proto, num_heads, hidden_size)
        onnx.checker.check_model(proto)

    return rewrite


def token_select_layers(spec: GraphSpec, num_layers: int, owner: str = "model") -> list[int]:
    """Layers that get a TokenSelect: all but the first in the adjustable graph, else the profile's pruned layers.

    A profile for another depth is one ``ExportError``; ``owner`` names what has the layers (e.g. "T5 encoder").
    """
    if spec.adjustable:
        return list(range(1, num_layers))
    if spec.profile.num_layers != num_layers:
        raise ExportError(
            f"profile {spec.name} has {spec.profile.num_layers} ratios for a {num_layers}-layer {owner}; "
            "offline-tune the profile for this model"
        )
    return pruned_layers(spec.profile.keep_ratios)


def export_onnx_graph(
    wrapper: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    name: str,
    custom_opsets: dict[str, int] | None = None,
    rewrite: Callable[[onnx.ModelProto], None] | None = None,
) -> None:
    """TorchScript-export ``wrapper`` to ``path``, then attach the ``ai.acc`` function bodies and cap the IR version.

    ``custom_opsets``: the custom domains the graph uses (``used_domains``; the exporter warns about declared but
    unused ones). ``rewrite``: applied to the loaded graph before the one save (e.g. layer fusions), so the file is
    written once. Any exporter failure is one ``ExportError`` line naming graph ``name``.
    """
    import onnx

    from .acc_score import attach_acc_score

    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python ints are expected and harmless here
            torch.onnx.export(
                wrapper,
                args,
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                custom_opsets=custom_opsets or None,
                do_constant_folding=True,
            )
    except Exception as exc:  # noqa: BLE001 - the exporter raises many unrelated types; report one line
        raise ExportError(f"torch.onnx export of graph {name} failed: {exc}".splitlines()[0]) from exc
    proto = onnx.load(str(path))
    attach_token_select(proto)
    attach_acc_score(proto)
    proto.ir_version = min(proto.ir_version, MAX_IR_VERSION)
    if rewrite is not None:
        rewrite(proto)
    onnx.save(proto, str(path))


def attach_token_select(proto: onnx.ModelProto) -> None:
    """Add the ``TokenSelect`` function body (once) and its domain import to a model that calls it."""
    import onnx

    if not any(node.domain == DOMAIN for node in proto.graph.node):
        return
    if not any(f.domain == DOMAIN and f.name == FUNCTION_NAME for f in proto.functions):
        proto.functions.append(token_select_function())
    if not any(entry.domain == DOMAIN for entry in proto.opset_import):
        proto.opset_import.append(onnx.helper.make_opsetid(DOMAIN, DOMAIN_VERSION))


def used_domains(selects: bool, fused: bool = False) -> dict[str, int]:
    """Custom opsets of an encoder graph: ``ai.acc`` where it selects (TokenSelect, and AccScore in the fused form),
    ``com.microsoft`` for the fused form's MultiHeadAttention."""
    from .fused_attention import MS_DOMAIN, MS_DOMAIN_VERSION

    domains = {DOMAIN: DOMAIN_VERSION} if selects else {}
    if fused:
        domains[MS_DOMAIN] = MS_DOMAIN_VERSION
    return domains


def count_token_select(proto: onnx.ModelProto) -> int:
    """Number of ``ai.acc::TokenSelect`` calls in the main graph (0 once inlined)."""
    return sum(1 for node in proto.graph.node if node.domain == DOMAIN and node.op_type == FUNCTION_NAME)
