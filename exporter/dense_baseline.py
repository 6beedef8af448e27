"""The dense baseline: what a user would deploy without ACC, so ``acc-bench`` speedups are honest.

A bundle's own ``dense`` graph is the ACC graph with every keep ratio at 1.0: our exporter's plain ONNX, not fused
by ONNX Runtime's transformer optimizer. Measuring profiles only against it would flatter them. The baseline here is
the recipe a user reaches for first:

1. the plain Hugging Face ``BertForSequenceClassification`` (logits only), exported with ``torch.onnx``
   (TorchScript exporter, ``dynamo=False``, opset 18, dynamic ``batch``/``sequence``, IR version <= 10);
2. ``onnxruntime.transformers.optimizer.optimize_model(model_type="bert")``, which fuses EmbedLayerNormalization,
   Attention, SkipLayerNormalization and BiasGelu;
3. validated against the PyTorch logits (atol 1e-4) before anyone times it.

Why not Optimum: ``optimum-onnx`` (0.1.0) pins ``transformers<4.58`` and cannot be installed beside the
transformers 5 this package needs (``pip install --dry-run optimum-onnx`` wants to downgrade to 4.57.6), so the
results say so (:data:`BASELINE_METHOD`). Optimum's BERT export is the same TorchScript export plus this optimizer.

Why eager attention: with transformers 5 the ``sdpa`` export traces to a mask/softmax pattern that the optimizer's
attention fusion does not recognise (0 fused ``Attention`` nodes, measured with onnxruntime 1.32); the eager export
fuses every layer. A baseline without fused attention is refused unless the caller allows it, because it would
inflate every speedup measured against it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from acc.profiles import ExportError, ShapeError, ToleranceError

from .export import MAX_IR_VERSION
from .token_select import OPSET

BASELINE_METHOD = "torch.onnx + onnxruntime.transformers.optimizer (Optimum unavailable: pins transformers<4.58)"
RAW_NAME = "dense-raw.onnx"
OPTIMIZED_NAME = "dense-optimized.onnx"
# (batch, seq): rows get valid lengths seq, seq-1, ... so padding is exercised; row 0 is full length.
VALIDATION_SHAPES: tuple[tuple[int, int], ...] = ((1, 16), (4, 37), (2, 128))
DEFAULT_ATOL = 1e-4


@dataclass(frozen=True)
class DenseBaseline:
    """An optimized dense graph and how it was made. The caller owns ``path`` (and its directory)."""

    path: Path
    source: str
    method: str
    attn_implementation: str
    opset: int
    ir_version: int
    opt_level: int | None  # None: the optimizer's default for model_type="bert"
    num_heads: int
    hidden_size: int
    vocab_size: int
    inputs: tuple[str, ...]
    fused_ops: dict[str, int] = field(default_factory=dict)  # get_fused_operator_statistics()
    fully_optimized: bool = False
    max_abs_diff: float = 0.0  # vs PyTorch logits over validated_shapes
    atol: float = DEFAULT_ATOL
    validated_shapes: tuple[tuple[int, int], ...] = VALIDATION_SHAPES

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata (for benchmark results); the path is written as a string."""
        data = asdict(self)
        data["path"] = str(self.path)
        data["inputs"] = list(self.inputs)
        data["validated_shapes"] = [list(shape) for shape in self.validated_shapes]
        return data


def export_dense_baseline(
    source: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    atol: float = DEFAULT_ATOL,
    attn_implementation: str = "eager",
    opt_level: int | None = None,
    validate_shapes: Sequence[tuple[int, int]] = VALIDATION_SHAPES,
    require_fused_attention: bool = True,
    seed: int = 0,
) -> DenseBaseline:
    """Export, optimize and validate the dense baseline of checkpoint ``source`` into ``output_dir``.

    ``source`` is anything ``acc.modeling.checkpoint.load_model`` takes (an ACC checkpoint, a plain BERT directory,
    an alias). ``seed`` fixes the classifier head of base models that have none, so the validation is
    reproducible. Raises ``ToleranceError`` when the optimized graph misses ``atol`` on any validated shape and
    ``ExportError`` when attention was not fused (unless ``require_fused_attention=False``).
    """
    from acc.modeling.checkpoint import load_model

    from .config import config_for

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):  # seed the head's init without touching the caller's RNG
        torch.manual_seed(seed)
        loaded = load_model(source)
    hf = loaded.model.hf.eval()
    _set_attention(hf, attn_implementation)
    config = config_for(hf.config)
    num_heads, hidden_size = int(hf.config.num_attention_heads), int(hf.config.hidden_size)

    raw = out / RAW_NAME
    _torch_export(hf, config, raw)
    optimized, fused_ops, fully = _optimize(raw, out / OPTIMIZED_NAME, num_heads, hidden_size, opt_level)
    raw.unlink(missing_ok=True)
    if require_fused_attention and fused_ops.get("Attention", 0) + fused_ops.get("MultiHeadAttention", 0) == 0:
        raise ExportError(
            f"dense baseline of {loaded.source} has no fused Attention (attn_implementation={attn_implementation!r}, "
            f"fused ops {_nonzero(fused_ops)}); use attn_implementation='eager' or allow an unfused baseline"
        )
    max_diff = validate_dense_baseline(optimized, hf, config, validate_shapes, atol)
    return DenseBaseline(
        path=optimized,
        source=loaded.source,
        method=BASELINE_METHOD,
        attn_implementation=attn_implementation,
        opset=OPSET,
        ir_version=_ir_version(optimized),
        opt_level=opt_level,
        num_heads=num_heads,
        hidden_size=hidden_size,
        vocab_size=config.vocab_size,
        inputs=tuple(config.inputs),
        fused_ops=dict(fused_ops),
        fully_optimized=bool(fully),
        max_abs_diff=max_diff,
        atol=atol,
        validated_shapes=tuple(tuple(shape) for shape in validate_shapes),
    )


def validate_dense_baseline(
    path: Path,
    hf_model: Any,
    config: Any,
    shapes: Sequence[tuple[int, int]],
    atol: float = DEFAULT_ATOL,
) -> float:
    """Max |logits diff| of the graph at ``path`` vs ``hf_model`` over ``shapes``; every miss in one error.

    ``config`` is the architecture's ``AccOnnxConfig`` (it makes the padded sample inputs).
    """
    from acc.runtime.ort_session import create_session

    session = create_session(path, device="cpu")
    wanted = [node.name for node in session.get_inputs()]
    worst = 0.0
    shape_errors: list[str] = []
    value_errors: list[str] = []
    for batch, seq in shapes:
        sample = config.sample_inputs(batch=batch, seq_len=seq)
        with torch.no_grad():
            reference = hf_model(**sample).logits.numpy()
        logits = session.run(["logits"], {name: sample[name].numpy() for name in wanted})[0]
        if logits.shape != reference.shape:
            shape_errors.append(f"b={batch} s={seq}: logits shape {logits.shape} != PyTorch {reference.shape}")
            continue
        diff = float(np.abs(logits - reference).max())
        worst = max(worst, diff)
        if not diff <= atol:
            value_errors.append(f"b={batch} s={seq}: max|diff| {diff:.2e}")
    if shape_errors:
        raise ShapeError(f"dense baseline {path.name}: {'; '.join(shape_errors)}; file a bug with the fused-op counts")
    if value_errors:
        raise ToleranceError(
            f"dense baseline {path.name} logits differ from PyTorch beyond atol {atol:.0e} ({'; '.join(value_errors)}); "
            "check the optimizer's fusions or pass a larger atol"
        )
    return worst


def _set_attention(hf: Any, implementation: str) -> None:
    """``load_model`` loads eager attention (ACC needs the probabilities); the baseline may ask for sdpa."""
    if implementation not in ("eager", "sdpa"):
        raise ExportError(f"attn_implementation {implementation!r} is not supported; pass 'eager' or 'sdpa'")
    if hasattr(hf, "set_attn_implementation"):
        hf.set_attn_implementation(implementation)
    else:  # older transformers
        hf.config._attn_implementation = implementation


class _LogitsOnly(torch.nn.Module):
    """The Hugging Face model with positional inputs and one output, as torch.onnx wants it."""

    def __init__(self, hf: Any, input_names: Sequence[str]) -> None:
        super().__init__()
        self.hf = hf
        self.input_names = tuple(input_names)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.hf(**dict(zip(self.input_names, tensors))).logits


def _torch_export(hf: Any, config: Any, path: Path) -> None:
    import onnx

    names = list(config.inputs)
    sample = config.sample_inputs(batch=2, seq_len=16)
    dynamic_axes: dict[str, dict[int, str]] = {name: dict(axes) for name, axes in config.inputs.items()}
    dynamic_axes["logits"] = {0: "batch"}
    wrapper = _LogitsOnly(hf, names).eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings from transformers' mask code are expected
            torch.onnx.export(
                wrapper,
                tuple(sample[name] for name in names),
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=names,
                output_names=["logits"],
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
            )
    except Exception as exc:  # noqa: BLE001 - the exporter raises many unrelated types; report one line
        raise ExportError(f"torch.onnx export of the dense baseline failed: {exc}".splitlines()[0]) from exc
    finally:
        hf.eval()  # export restores the wrapper's mode; keep the reference model in eval for validation
    proto = onnx.load(str(path))
    proto.ir_version = min(proto.ir_version, MAX_IR_VERSION)
    onnx.save(proto, str(path))


def _optimize(raw: Path, target: Path, num_heads: int, hidden_size: int, opt_level: int | None):  # noqa: ANN202
    from onnxruntime.transformers.optimizer import optimize_model

    try:
        model = optimize_model(
            str(raw), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=opt_level
        )
    except Exception as exc:  # noqa: BLE001 - the optimizer raises bare Exceptions and asserts
        raise ExportError(
            f"onnxruntime transformer optimizer failed on the dense baseline: {exc}".splitlines()[0]
        ) from exc
    fused = {str(op): int(count) for op, count in model.get_fused_operator_statistics().items()}
    fully = model.is_fully_optimized(fused)
    model.model.ir_version = min(model.model.ir_version, MAX_IR_VERSION)
    model.save_model_to_file(str(target))
    return target, fused, fully


def _ir_version(path: Path) -> int:
    import onnx

    return int(onnx.load(str(path), load_external_data=False).ir_version)


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {op: n for op, n in counts.items() if n}
