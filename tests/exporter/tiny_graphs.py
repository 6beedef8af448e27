"""Helpers of the exporter goldens: a tiny4 export with shared weights, random feeds, the PyTorch reference.

A module (not the conftest) so test modules can import it; ``conftest.py`` turns ``export_tiny_graphs`` into the
session fixture ``tiny4_graphs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acc.profiles import Profile, theoretical_speedup

FLAT_RATIOS = (1.0, 0.6, 0.6, 0.3)
# fp32 on a tiny random model: logits are ~3e-2 and ORT differs from PyTorch by ~1e-8, while keeping one token more
# or less moves the logits by ~1e-4; so the goldens use a bound well below the config's 1e-4.
GOLDEN_ATOL = 1e-5


def flat_profile(shape: Any) -> Profile:
    """A hand-written profile (not offline-tuned) with a flat step, so not every layer is pruned."""
    return Profile(
        name="flat",
        keep_ratios=FLAT_RATIOS,
        target_speedup=1.0,
        theoretical_speedup=theoretical_speedup(FLAT_RATIOS, shape, 128),
        family="hand",
    )


@dataclass(frozen=True)
class TinyGraphs:
    """What the exporter tests need: the PyTorch model, its export config, and two graphs sharing weights."""

    model: Any  # AccBertForSequenceClassification
    config: Any  # AccOnnxConfig
    profile: Profile
    fixed: Any  # ExportedGraph
    adjustable: Any  # ExportedGraph
    weights: Path
    bytes_after_fixed: int  # weights.bin size after externalising the fixed graph
    bytes_after_adjustable: int  # ... and after the adjustable graph
    reused_by_adjustable: int  # initializers of the adjustable graph found already stored


def export_tiny_graphs(checkpoint: Path, folder: Path) -> TinyGraphs:
    """Export the flat profile and the adjustable graph of ``checkpoint`` into ``folder`` (one weights.bin)."""
    from acc.exporter import GraphSpec, config_for, export_graph
    from acc.exporter.weights import WEIGHTS_FILE, SharedWeights
    from acc.modeling.checkpoint import load_model

    model = load_model(checkpoint).model
    config = config_for(model.config)
    profile = flat_profile(model.shape)
    weights_path = folder / WEIGHTS_FILE
    with SharedWeights(weights_path) as weights:
        fixed = export_graph(model, GraphSpec(profile.name, profile), folder / "flat.onnx", config)
        weights.externalize(fixed.path)
        after_fixed = weights.unique_bytes
        adjustable = export_graph(model, GraphSpec("adjustable", None), folder / "adjustable.onnx", config)
        reused = weights.externalize(adjustable.path)
        after_adjustable = weights.unique_bytes
    return TinyGraphs(model, config, profile, fixed, adjustable, weights_path, after_fixed, after_adjustable, reused)


def ort_session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # tiny graphs; leaves the other core to whoever shares the machine
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def random_feeds(batch: int, seq_len: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Token ids with random valid lengths in [1, seq_len] (row 0 full, last row only [CLS] when batch > 2)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, seq_len + 1, size=batch)
    lengths[0] = seq_len
    if batch > 2:
        lengths[-1] = 1
    mask = (np.arange(seq_len)[None, :] < lengths[:, None]).astype(np.int64)
    ids = rng.integers(1000, 30000, size=(batch, seq_len)).astype(np.int64) * mask
    ids[:, 0] = 101
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def torch_reference(model: Any, feeds: dict[str, np.ndarray], keep_ratios: Any, select_layers: Any = None) -> Any:
    import torch

    with torch.no_grad():
        return model(
            *(torch.from_numpy(feeds[name]) for name in ("input_ids", "attention_mask", "token_type_ids")),
            keep_ratios=keep_ratios,
            select_layers=select_layers,
        )


def kept_index(reference: Any, layer: int) -> np.ndarray:
    """PyTorch's kept positions entering 0-based ``layer`` as the graph reports them (−1 in filler slots)."""
    mask = reference.kept_masks[layer].numpy()
    return np.where(mask > 0, reference.kept_positions[layer].numpy(), -1)


def token_select_dtypes(path: Path, feeds: dict[str, np.ndarray]) -> list[tuple[Any, Any, Any]]:
    """(hidden in, score in, hidden out) dtypes of each ``ai.acc::TokenSelect`` call of the graph at ``path`` (weights
    embedded), as ONNX Runtime computes them: the values become extra graph outputs, since values from contrib ops
    (fused form: SkipLayerNormalization) carry no static type."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    selects = [node for node in model.graph.node if node.op_type == "TokenSelect"]
    names = [name for node in selects for name in (node.input[0], node.input[3], node.output[0])]
    model.graph.output.extend(onnx.ValueInfoProto(name=name) for name in names)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    dtypes = [value.dtype for value in session.run(names, feeds)]
    return [tuple(dtypes[i : i + 3]) for i in range(0, len(dtypes), 3)]


def run_profiled(path: Path, feeds: dict[str, np.ndarray], profile_dir: Path, library: Path | None = None) -> Any:
    """(outputs, {op types run}) of a 1-thread CPU session of ``path``, with the custom-op library if given."""
    import json

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = str(profile_dir / "profile")
    if library is not None:
        options.register_custom_ops_library(str(library))
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    events = json.loads(Path(session.end_profiling()).read_text())
    return outputs, {e["args"].get("op_name") for e in events if e.get("cat") == "Node"}
