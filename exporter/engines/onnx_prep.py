"""ONNX-side loaders that prepare an exported graph for TensorRT's parser: inline TokenSelect, convert to fp16.

Both run without TensorRT (and are tested on CPU with ONNX Runtime). Why they exist:

- ``InlinedOnnx``: TensorRT's ONNX parser may not know local functions, so every ``ai.acc::TokenSelect`` call is
  replaced by its body. External weights stay external (only references are loaded), so a 400 MB model is not
  read here::

      … → [ai.acc::TokenSelect] → [layer 2]   ⟹   … → [TopK, Less, Where, TopK, GatherElements, …] → [layer 2]

- ``Fp16Onnx``: TensorRT-RTX (and TensorRT 11) build *strongly typed* networks: precision is what the graph's
  tensors say, there is no fp16 builder flag. So fp16 is decided here, identically for both flavours and by the
  same rules as the bundle's ORT fp16 graphs (``acc.exporter.precision``; those keep TokenSelect as a call, whose
  body computes in fp32 what the inlined TopKs do here): float weights and activations become float16,
  inputs/outputs keep their types, and the ACC score, keep counts and TopKs stay float32 so fp16 rounding cannot
  reorder which tokens are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acc.profiles import EngineBuildError

if TYPE_CHECKING:
    import onnx

_TWO_GB = 2**31


@dataclass(frozen=True)
class OnnxGraph:
    """A model in memory and the file it came from (its folder resolves external-data references)."""

    model: onnx.ModelProto
    path: Path

    @property
    def has_external_data(self) -> bool:
        from onnx.external_data_helper import uses_external_data

        return any(uses_external_data(t) for t in self.model.graph.initializer)


def resolve(value: Any) -> Any:
    """A loader argument is either a loader (called now; its result is ours) or a value (the caller's)."""
    return value() if callable(value) else value


class InlinedOnnx:
    """``graph_path`` (or an ``OnnxGraph`` loader, e.g. ``KeepCountsOnnx``) → ``OnnxGraph`` with every local
    function inlined; external weights stay where they are."""

    def __init__(self, graph_path: str | Path | Any) -> None:
        self.loader = graph_path if callable(graph_path) else None
        self.graph_path = Path(graph_path) if self.loader is None else None

    def __call__(self) -> OnnxGraph:
        import onnx
        import onnx.inliner

        if self.loader is not None:
            graph: OnnxGraph = self.loader()
            model = onnx.inliner.inline_local_functions(graph.model) if graph.model.functions else graph.model
            return OnnxGraph(model, graph.path)
        if not self.graph_path.is_file():
            raise EngineBuildError(f"graph {self.graph_path} does not exist; export it first (acc-export)")
        try:
            model = onnx.load(str(self.graph_path), load_external_data=False)
        except Exception as exc:  # noqa: BLE001 - protobuf raises its own DecodeError types
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            message = f"cannot read graph {self.graph_path} ({reason}); re-export it with acc-export"
            raise EngineBuildError(message) from exc
        if model.functions:
            model = onnx.inliner.inline_local_functions(model)
        return OnnxGraph(model, self.graph_path)


class Fp16Onnx:
    """``OnnxGraph`` (or a loader of one) → the same graph in float16 with float32 inputs/outputs, weights embedded.

    The weights are read from external data and converted in memory, so the result must stay under protobuf's
    2 GB (BERT-large in fp16 is ~0.7 GB). Run after ``InlinedOnnx``: the converter does not look inside functions.
    ``precision``: ``fp16`` (score and selection in fp32) or ``fp16-all`` (see ``acc.exporter.precision``).
    """

    def __init__(self, onnx_loader: Any, precision: str = "fp16") -> None:
        self.onnx_loader = onnx_loader
        self.precision = precision

    def __call__(self) -> OnnxGraph:
        import copy

        from onnx.external_data_helper import load_external_data_for_model

        from acc.exporter.precision import to_fp16

        graph: OnnxGraph = resolve(self.onnx_loader)
        if graph.model.functions:
            raise EngineBuildError(f"graph {graph.path.name} still has local functions; wrap it in InlinedOnnx first")
        model = copy.deepcopy(graph.model)  # the loader's model may be the caller's; never edit it in place
        try:
            load_external_data_for_model(model, str(graph.path.parent))
        except (OSError, ValueError) as exc:
            raise EngineBuildError(
                f"cannot read the weights of {graph.path.name} ({exc}); keep weights.bin beside the graph"
            ) from exc
        converted = to_fp16(model, self.precision)
        if converted.ByteSize() >= _TWO_GB:
            raise EngineBuildError(
                f"graph {graph.path.name} is over 2 GB in fp16 with its weights embedded; build fp32 engines, or "
                "file an issue for external-data fp16 graphs"
            )
        return OnnxGraph(converted, graph.path)
