"""Fused ACC kernels behind a PyTorch API: row log-sum-exp, per-head column sums, selection with gather.

``backend="triton"`` runs the Triton kernels (CUDA tensors, or CPU tensors when ``TRITON_INTERPRET=1`` was set
before first use); ``"torch"`` runs the references of ``acc.modeling.kernels.reference``; ``"auto"`` picks triton
when it can run on the tensors' device. Every wrapper only launches work: no host syncs, so all of it can be
captured in a CUDA graph. Shapes: q, k [B, H, N, dh] (any strides, head dim contiguous); mask [B, N] (1 = real).
"""

from __future__ import annotations

import contextvars
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import torch

from acc.modeling.select import Selection
from acc.profiles import ModelError

from . import reference, tuning
from .tuning import SelectConfig, TileConfig

BACKENDS = ("auto", "triton", "torch")
INTERPRET_ENV = "TRITON_INTERPRET"


class KernelUnavailableError(ModelError):
    """The fused kernels cannot run here (no triton, or CPU tensors without the Triton interpreter)."""


def _kernel_module(name: str) -> ModuleType:
    try:
        module = importlib.import_module(f"acc.modeling.kernels.{name}")
    except ImportError as exc:
        raise KernelUnavailableError(
            f"fused ACC kernels need triton ({exc}); pip install 'acc-deploy[kernels]' or pass backend='torch'"
        ) from exc
    if _interpreted(module):
        _interpreter_numpy_compat()
    return module


def _interpreter_numpy_compat() -> None:
    """Let Triton's CPU interpreter use a scalar argument as a loop bound under NumPy >= 2.4.

    The interpreter holds scalars as 1-element arrays and converts them with ``int(array)``, which NumPy 2.4 turned
    into an error, so ``for start in range(0, N, BLOCK)`` fails there. Only interpreter mode is touched.
    """
    from triton.runtime import interpreter

    original = interpreter._patch_lang_tensor
    if getattr(original, "_acc_numpy_compat", False):
        return

    def patched(tensor: type, scope: object) -> None:
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    patched._acc_numpy_compat = True
    interpreter._patch_lang_tensor = patched


def _interpreted(module: ModuleType) -> bool:
    """True when the module's kernels were decorated under TRITON_INTERPRET=1 (they then take CPU tensors)."""
    kernel = next(v for k, v in vars(module).items() if k.endswith("_kernel"))
    return type(kernel).__name__ == "InterpretedFunction"


def triton_status(device: torch.device | str) -> str | None:
    """None when the Triton kernels can run on ``device``; else the one-line reason (for reports and skips)."""
    try:
        module = _kernel_module("_score_triton")
    except KernelUnavailableError as exc:
        return str(exc)
    device = torch.device(device)
    if _interpreted(module):
        if device.type == "cpu":
            return None
        return (
            f"triton kernels were loaded in interpreter mode ({INTERPRET_ENV}=1); they take CPU tensors, not {device}"
        )
    if device.type != "cuda":
        return (f"triton kernels run on CUDA tensors, got {device}; set {INTERPRET_ENV}=1 before first use to run them "
                "on CPU (slow, for tests) or pass backend='torch'")  # fmt: skip
    return None


def resolve_backend(backend: str, device: torch.device | str) -> str:
    """``auto`` → ``triton`` when it can run on ``device``, else ``torch``; ``triton`` that cannot run fails here."""
    if backend not in BACKENDS:
        raise ModelError(f"unknown kernel backend {backend!r}; pass one of {', '.join(BACKENDS)}")
    if backend == "torch":
        return backend
    reason = triton_status(device)
    if reason is None:
        return "triton"
    if backend == "triton":
        raise KernelUnavailableError(reason)
    return "torch"


# Set while ``torch.export`` traces the kernels (``acc.exporter.aoti``): launches go through
# ``torch.library.wrap_triton`` (direct ``kernel[grid](...)`` calls are invisible to dispatcher-based tracing) and
# batch-dependent launch choices are made for this batch size instead of the symbolic traced one, which would
# otherwise guard on each threshold of ``tuning`` and pin the package to one side of it.
_EXPORT_BATCH: contextvars.ContextVar[int | None] = contextvars.ContextVar("acc_kernels_export_batch", default=None)


@contextmanager
def traceable_launches(tune_batch: int) -> Iterator[None]:
    """Within this block the kernels can be captured by ``torch.export`` (results do not depend on ``tune_batch``;
    only which tile/launch configuration runs does)."""
    token = _EXPORT_BATCH.set(int(tune_batch))
    try:
        yield
    finally:
        _EXPORT_BATCH.reset(token)


def _launchable(kernel: object) -> object:
    if _EXPORT_BATCH.get() is None:
        return kernel
    from torch.library import wrap_triton

    return wrap_triton(kernel)


def _tuning_batch(batch: int) -> int:
    pinned = _EXPORT_BATCH.get()
    return batch if pinned is None else pinned


def _inner_contiguous(t: torch.Tensor) -> torch.Tensor:
    return t if t.stride(-1) == 1 else t.contiguous()


def row_lse(
    q: torch.Tensor,
    k: torch.Tensor,
    mask: torch.Tensor,
    scale: float,
    backend: str = "auto",
    causal: bool = False,
    config: TileConfig | None = None,
) -> torch.Tensor:
    """[B, H, N] fp32 log-sum-exp of each query row over valid keys, for when fused attention does not return it.

    ``causal``: only keys j ≤ i count (GPT-2's attention). ``config``: tiles (default ``tuning.lse_config``).
    """
    if resolve_backend(backend, q.device) == "torch":
        fn = reference.causal_row_lse_reference if causal else reference.row_lse_reference
        return fn(q, k, mask, scale)
    kernels = _kernel_module("_score_triton")
    q, k, mask = _inner_contiguous(q), _inner_contiguous(k), _inner_contiguous(mask)
    batch, heads, n, head_dim = q.shape
    tiles = config or tuning.lse_config(_tuning_batch(batch), heads, n)
    lse = torch.empty((batch, heads, n), device=q.device, dtype=torch.float32)
    grid = (batch * heads, tuning.cdiv(n, tiles.block_i))
    _launchable(kernels._row_lse_kernel)[grid](
        q, k, mask, lse, n, heads, scale * kernels.LOG2E,
        q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2), mask.stride(0),
        lse.stride(0), lse.stride(1),
        HEAD_DIM=head_dim, BLOCK_D=tuning.pow2(head_dim), BLOCK_I=tiles.block_i, BLOCK_J=tiles.block_j,
        IEEE=q.dtype == torch.float32, CAUSAL=causal, num_warps=tiles.num_warps, num_stages=tiles.num_stages,
    )  # fmt: skip
    return lse


def causal_row_lse(
    q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor, scale: float, backend: str = "auto"
) -> torch.Tensor:
    """[B, H, N] fp32 causal log-sum-exp (valid keys j ≤ i): ``row_lse(..., causal=True)``."""
    return row_lse(q, k, mask, scale, backend, causal=True)


def column_sums(
    q: torch.Tensor,
    k: torch.Tensor,
    lse: torch.Tensor,
    mask: torch.Tensor,
    scale: float,
    backend: str = "auto",
    causal: bool = False,
    config: TileConfig | None = None,
) -> torch.Tensor:
    """[B, H, N] fp32 per-head Σ over valid queries of the attention probabilities; lse may be longer than N.

    ``causal``: only queries i ≥ j count for column j (GPT-2's attention; ``lse`` must be the causal one).
    ``config``: tiles, warps and stages (default ``tuning.column_config``; the sweep passes alternatives).
    """
    if resolve_backend(backend, q.device) == "torch":
        if causal:
            return reference.causal_column_sums_reference(q, k, lse, mask, scale)
        return reference.column_sums_reference(q, k, lse, mask, scale)
    kernels = _kernel_module("_score_triton")
    q, k, lse, mask = _inner_contiguous(q), _inner_contiguous(k), _inner_contiguous(lse), _inner_contiguous(mask)
    batch, heads, n, head_dim = q.shape
    tiles = config or tuning.column_config(_tuning_batch(batch), heads, n)
    out = torch.empty((batch, heads, n), device=q.device, dtype=torch.float32)
    grid = (batch * heads, tuning.cdiv(n, tiles.block_j))
    _launchable(kernels._column_sum_kernel)[grid](
        q, k, lse, mask, out, n, heads, scale * kernels.LOG2E,
        q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2), lse.stride(0), lse.stride(1),
        mask.stride(0), out.stride(0), out.stride(1),
        HEAD_DIM=head_dim, BLOCK_D=tuning.pow2(head_dim), BLOCK_I=tiles.block_i, BLOCK_J=tiles.block_j,
        IEEE=q.dtype == torch.float32, CAUSAL=causal, num_warps=tiles.num_warps, num_stages=tiles.num_stages,
    )  # fmt: skip
    return out


def select_fused(
    hidden: torch.Tensor,
    mask: torch.Tensor,
    positions: torch.Tensor,
    partial: torch.Tensor,
    n_valid: torch.Tensor,
    ratio: float,
    slots: int,
    min_keep: int = 1,
    pin_first: bool = True,
    return_score: bool = False,
    backend: str = "auto",
    causal: bool = False,
    config: SelectConfig | None = None,
) -> tuple[Selection, torch.Tensor | None]:
    """Finish the ACC score from per-head column sums, keep each sample's top-k in original order, gather.

    hidden [B, N, D]; mask, positions [B, N]; partial [B, H, N] (``column_sums``); n_valid [B] original valid
    lengths; ``slots`` static output width (≥ every sample's keep count). With triton one launch, or two (plan,
    gather) for large B·N (``tuning.select_config``; ``config`` overrides). Returns the selection and, with
    ``return_score``, the [B, N] ACC score it ranked by. ``causal``: the score of ``finish_causal_score`` (partial
    from ``column_sums(causal=True)``); ``pin_first`` then pins the last valid slot.
    """
    if resolve_backend(backend, hidden.device) == "torch":
        finish = reference.finish_causal_score if causal else reference.finish_score
        score = finish(partial, mask, pin_first)
        chosen = reference.select_static(hidden, mask, positions, score, n_valid, ratio, slots, min_keep)
        return chosen, score if return_score else None
    kernels = _kernel_module("_select_triton")
    hidden, mask, positions = _inner_contiguous(hidden), _inner_contiguous(mask), _inner_contiguous(positions)
    partial, n_valid = _inner_contiguous(partial), n_valid.contiguous()
    batch, n, width = hidden.shape
    if not 1 <= slots <= n:
        raise ModelError(f"selection asks for {slots} slots out of {n} word-vectors; slots must lie in [1, {n}]")
    launch = config or tuning.select_config(_tuning_batch(batch), n, width)
    device = hidden.device
    hidden_out = torch.empty((batch, slots, width), device=device, dtype=hidden.dtype)
    mask_out = torch.empty((batch, slots), device=device, dtype=mask.dtype)
    positions_out = torch.empty((batch, slots), device=device, dtype=positions.dtype)
    score = torch.empty((batch, n), device=device, dtype=torch.float32) if return_score else mask_out
    n_pow2 = tuning.pow2(n)
    common = {"HEADS": partial.shape[1], "PIN_FIRST": pin_first, "WRITE_SCORE": return_score, "CAUSAL": causal,
              "N_POW2": n_pow2, "RADIX": launch.radix, "num_warps": launch.num_warps}  # fmt: skip
    if launch.split:
        index = torch.empty((batch, slots), device=device, dtype=torch.int32)
        _launchable(kernels._select_plan_kernel)[(batch,)](
            partial, mask, n_valid, positions, index, mask_out, positions_out, score,
            n, slots, float(ratio), min_keep,
            partial.stride(0), partial.stride(1), mask.stride(0), positions.stride(0), index.stride(0),
            mask_out.stride(0), positions_out.stride(0), score.stride(0), **common,
        )  # fmt: skip
        block_d = min(launch.block_d, tuning.pow2(width))
        grid = (batch, tuning.cdiv(slots, launch.block_s), tuning.cdiv(width, block_d))
        _launchable(kernels._gather_kernel)[grid](
            index, hidden, hidden_out, slots, width, index.stride(0), hidden.stride(0), hidden.stride(1),
            hidden_out.stride(0), hidden_out.stride(1), BLOCK_S=launch.block_s, BLOCK_D=block_d, num_warps=4,
        )  # fmt: skip
    else:
        block_d = min(launch.block_d, tuning.pow2(width))
        chunk_d = max(16, min(block_d, tuning.COPY_TILE_ELEMENTS // n_pow2))
        _launchable(kernels._select_kernel)[(batch, tuning.cdiv(width, block_d))](
            partial, mask, n_valid, hidden, positions, hidden_out, mask_out, positions_out, score,
            n, width, slots, float(ratio), min_keep,
            partial.stride(0), partial.stride(1), mask.stride(0), hidden.stride(0), hidden.stride(1), positions.stride(0),
            hidden_out.stride(0), hidden_out.stride(1), mask_out.stride(0), positions_out.stride(0), score.stride(0),
            BLOCK_D=block_d, CHUNK_D=chunk_d, **common,
        )  # fmt: skip
    return Selection(hidden_out, mask_out, positions_out), score if return_score else None
