"""ACC GPT-2: a Hugging Face ``GPT2LMHeadModel`` run layer by layer with word-vector elimination in the prefill.

We wrap the Hugging Face modules (embeddings, ``ln_1``, ``c_attn``, ``c_proj``, ``mlp``, ``ln_f``, ``lm_head``)
instead of re-implementing GPT-2, so any GPT-2 checkpoint loads as it is; only the attention's glue is ours,
because elimination needs the probabilities and a KV cache whose length differs per layer.

Prefill (the prompt): before layer l the ``k_l`` word-vectors with the highest causal ACC score of layer l−1's
attention are kept, in original order, the last prompt token always among them. Layer l's KV cache holds the keys
and values of exactly the vectors layer l saw. Decoding (``extend``) never eliminates: new tokens attend, per layer,
to that layer's cache plus the new tokens before them, and their keys and values are appended. GPT-2's positions
are absolute and added at the input, so later layers only see vectors; a new token's position id is the prompt's
valid length plus its step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from acc.profiles import EncoderShape, ModelError, pruned_layers

from ..kernels import select_fused
from ..model import keep_ratios_tensor
from ..select import Selection, padded_length, select_tokens
from .fused import causal_bias, fused_causal_attention, static_slots, valid_prefix
from .score import causal_acc_score

Selector = Callable[..., Selection]
ATTENTION_MODES = ("eager", "sdpa", "fused")


@dataclass
class LayerCache:
    """Keys and values of the word-vectors one layer saw: [B, H, P, head_dim]; ``mask`` [B, P] int64, 1 = real."""

    key: torch.Tensor
    value: torch.Tensor
    mask: torch.Tensor

    @property
    def lengths(self) -> torch.Tensor:
        """Real (unmasked) cache entries per sample, [B]."""
        return self.mask.sum(dim=1)


@dataclass
class PrefillOutput:
    """What a prefill leaves behind: next-token logits, the per-layer caches and which positions each layer kept."""

    logits: torch.Tensor  # [B, V] at the last prompt token (or [B, N, V] with all_logits=True, dense only)
    cache: list[LayerCache]
    kept_positions: list[torch.Tensor]  # per layer [B, K_l]: original slot index of each cache entry
    kept_masks: list[torch.Tensor]  # per layer [B, K_l]
    next_positions: torch.Tensor  # [B] position id of the first new token (the prompt's valid length)


class AccGPT2LMHeadModel(nn.Module):
    """Causal LM with ACC prefill elimination; ``keep_ratios=None`` (or all 1.0) is the dense model."""

    def __init__(
        self,
        hf_model: nn.Module,
        min_keep: int = 1,
        selector: Selector = select_tokens,
        attention: str = "eager",
        kernel_backend: str = "auto",
        lse_source: str = "sdpa",
    ) -> None:
        super().__init__()
        if not hasattr(hf_model, "transformer") or not hasattr(hf_model, "lm_head"):
            raise ModelError(f"{type(hf_model).__name__} is not a GPT-2 language model; load a GPT2LMHeadModel")
        if attention not in ATTENTION_MODES:
            raise ModelError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
        self.hf = hf_model
        self.min_keep = min_keep
        self.selector = selector
        # "sdpa": fused attention wherever the probabilities are not needed (GPU fast path); "eager" everywhere
        # (ONNX export, and the reference the tests compare against). "fused": SDPA everywhere and the causal score
        # from Q, K and the attention's log-sum-exp by the Triton kernels (acc.modeling.causal.fused); where they
        # cannot run (CPU without TRITON_INTERPRET, no triton) it is "sdpa".
        self.attention = attention
        self.kernel_backend = kernel_backend
        self.lse_source = lse_source

    def fused_score_active(self, device: torch.device | str) -> bool:
        """True when the prefill on ``device`` takes the fused path (``attention="fused"`` and the kernels run)."""
        if self.attention != "fused":
            return False
        from acc.modeling.kernels import resolve_backend

        return resolve_backend(self.kernel_backend, device) == "triton"

    @property
    def config(self):
        return self.hf.config

    @property
    def shape(self) -> EncoderShape:
        """The FLOPs-model view: the prefill runs an encoder's per-layer work (docs/METHOD.md#3-flops-model)."""
        c = self.hf.config
        return EncoderShape(c.n_layer, c.n_embd, c.n_inner or 4 * c.n_embd, c.n_head)

    @property
    def num_layers(self) -> int:
        return len(self.hf.transformer.h)

    # ------------------------------------------------------------------------------------------------ prefill

    def prefill(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        keep_ratios: Sequence[float] | torch.Tensor | None = None,
        select_layers: Sequence[int] | None = None,
        all_logits: bool = False,
    ) -> PrefillOutput:
        """Run the prompt; before layer l ≥ 1 keep ``ceil(keep_ratios[l] · n_valid)`` word-vectors per sample.

        input_ids, attention_mask: [B, N] (left or right padding; 1 = real token). ``select_layers`` overrides which
        layers get a selection (by default those whose ratio drops). ``all_logits`` returns [B, N, V] (dense only:
        with elimination, dropped positions have no output).
        """
        transformer = self.hf.transformer
        batch, seq_len = input_ids.shape
        device = input_ids.device
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask.long()
        position_ids = (torch.cumsum(mask, dim=1) - 1).clamp(min=0)
        hidden = transformer.drop(transformer.wte(input_ids) + transformer.wpe(position_ids))
        positions = torch.arange(seq_len, device=device)[None, :].expand(batch, seq_len)
        n_valid = mask.sum(dim=1)
        ratios = keep_ratios_tensor(keep_ratios, self.num_layers, device)
        fused = self.fused_score_active(device)
        host_ratios = None  # floats on the host, read once (no per-layer sync); not when traced with given layers
        if ratios is not None and (select_layers is None or fused):
            host_ratios = torch.as_tensor(keep_ratios, dtype=torch.float32).tolist()
        if select_layers is None:
            select_layers = [] if host_ratios is None else pruned_layers(host_ratios)
        selected = set(select_layers)
        if all_logits and selected:
            raise ModelError("all_logits=True needs the dense prefill; eliminated positions have no output")

        cache: list[LayerCache] = []
        kept_positions: list[torch.Tensor] = []
        kept_masks: list[torch.Tensor] = []
        probs: torch.Tensor | None = None  # probabilities [B, H, N, N], or fused: per-head column sums [B, H, N]
        # Fused: until the first selection, causal over slots is GPT-2's mask unless valid slots follow padding.
        slot_causal = fused and (attention_mask is None or valid_prefix(mask))
        for index, block in enumerate(transformer.h):
            if index in selected and probs is not None and fused:
                # One launch: finish the score, rank, keep in order, gather. Static slot count: no host sync.
                slots = static_slots(host_ratios[index], seq_len, mask.shape[1], self.min_keep)
                (hidden, mask, positions), _ = select_fused(hidden, mask, positions, probs, n_valid, host_ratios[index],
                                                            slots, self.min_keep, backend=self.kernel_backend,
                                                            causal=True)  # fmt: skip
                slot_causal = True  # kept slots come first, in original order, fillers after them
            elif index in selected and probs is not None:
                score = causal_acc_score(probs, mask)
                hidden, mask, positions = self.selector(
                    hidden, mask, positions, score, n_valid, ratios[index], self.min_keep, padded_length(input_ids)
                )
            kept_positions.append(positions)
            kept_masks.append(mask)
            allowed = None
            if not slot_causal:
                allowed = (positions[:, None, :] <= positions[:, :, None]) & (mask[:, None, :] > 0)  # [B, Nq, Nk]
            need_probs = (index + 1) in selected
            hidden, probs, layer_cache = self._block(index, block, hidden, allowed, None, need_probs,
                                                     fused_mask=mask if fused else None)  # fmt: skip
            cache.append(LayerCache(layer_cache[0], layer_cache[1], mask))

        hidden = transformer.ln_f(hidden)
        if all_logits:
            logits = self.hf.lm_head(hidden)
        else:
            slot = torch.arange(1, mask.shape[1] + 1, device=device)[None, :]
            last = torch.argmax(mask * slot, dim=1)  # the last prompt token: always kept, always the last kept slot
            index = last[:, None, None].expand(-1, 1, hidden.shape[2])
            logits = self.hf.lm_head(torch.gather(hidden, 1, index)[:, 0])
        return PrefillOutput(logits, cache, kept_positions, kept_masks, n_valid)

    # ------------------------------------------------------------------------------------------------ decoding

    def extend(
        self, cache: Sequence[LayerCache], input_ids: torch.Tensor, position_ids: torch.Tensor
    ) -> tuple[torch.Tensor, list[LayerCache]]:
        """Feed ``T`` new tokens after the cache: logits [B, T, V] and the caches with their keys/values appended.

        input_ids, position_ids: [B, T]. New token t attends to the layer's cache entries (by their mask) and to the
        new tokens 0..t; nothing is eliminated here (elimination is applied to the prompt only:
        docs/METHOD.md#8-other-families).
        """
        if len(cache) != self.num_layers:
            raise ModelError(f"cache has {len(cache)} layers, the model {self.num_layers}; pass a cache from prefill")
        transformer = self.hf.transformer
        steps = input_ids.shape[1]
        hidden = transformer.drop(transformer.wte(input_ids) + transformer.wpe(position_ids))
        new_mask = torch.ones_like(input_ids, dtype=torch.long)
        causal = torch.tril(torch.ones(steps, steps, dtype=torch.bool, device=input_ids.device))
        new_cache: list[LayerCache] = []
        for index, block in enumerate(transformer.h):
            past = cache[index]
            past_allowed = (past.mask[:, None, :] > 0).expand(-1, steps, -1)
            allowed = torch.cat([past_allowed, causal[None].expand(past.mask.shape[0], -1, -1)], dim=2)
            hidden, _, (key, value) = self._block(index, block, hidden, allowed, past, False)
            new_cache.append(LayerCache(key, value, torch.cat([past.mask, new_mask], dim=1)))
        logits = self.hf.lm_head(transformer.ln_f(hidden))
        return logits, new_cache

    # ------------------------------------------------------------------------------------------------ one block

    def _block(
        self,
        index: int,
        block: nn.Module,
        hidden: torch.Tensor,
        allowed: torch.Tensor | None,
        past: LayerCache | None,
        need_probs: bool,
        fused_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, torch.Tensor]]:
        """GPT-2 block on [B, T, D]: returns hidden, the probabilities (when asked or eager) and this layer's K/V.

        ``allowed`` [B, T, S] says which keys each query may see (S = past + T). Masked scores get a large finite
        negative, not −inf, so a row with nothing allowed (a filler slot) stays finite instead of turning into NaN.
        ``fused_mask`` [B, T] (fused prefill, no past): ``allowed`` None means causal over slots, and instead of
        probabilities the per-head causal column sums [B, H, T] are returned when ``need_probs``.
        """
        attn = block.attn
        batch, steps, width = hidden.shape
        heads = attn.num_heads
        head_dim = width // heads
        q, k, v = attn.c_attn(block.ln_1(hidden)).split(width, dim=2)
        q, k, v = (t.reshape(batch, steps, heads, head_dim).transpose(1, 2) for t in (q, k, v))
        if past is not None:
            k = torch.cat([past.key, k], dim=2)
            v = torch.cat([past.value, v], dim=2)
        scaling = _scaling(self.hf.config, head_dim, index)
        if fused_mask is not None:
            bias = None if allowed is None else causal_bias(allowed, q.dtype)
            context, partial = fused_causal_attention(
                q, k, v, bias, fused_mask, scaling, need_probs, self.lse_source, self.kernel_backend
            )
            return self._block_rest(block, hidden, context), partial, (k, v)
        zero = torch.zeros((), dtype=q.dtype, device=q.device)
        # Half the dtype's minimum: min + a negative score would overflow to −inf in fp16/bf16.
        additive = torch.where(allowed[:, None], zero, zero + torch.finfo(q.dtype).min / 2)
        probs = None
        if need_probs or self.attention == "eager":
            scores = torch.matmul(q, k.transpose(-1, -2)) * scaling + additive
            probs = torch.softmax(scores, dim=-1)
            context = torch.matmul(probs, v)
        else:
            context = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=additive, scale=scaling)
        return self._block_rest(block, hidden, context), probs, (k, v)

    @staticmethod
    def _block_rest(block: nn.Module, hidden: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Merge heads ([B, H, T, dh] → [B, T, D]), output projection, residual, MLP, residual."""
        batch, steps, width = hidden.shape
        context = context.transpose(1, 2).reshape(batch, steps, width)
        hidden = hidden + block.attn.resid_dropout(block.attn.c_proj(context))
        return hidden + block.mlp(block.ln_2(hidden))


def _scaling(config: object, head_dim: int, layer_index: int) -> float:
    """GPT-2's score scale: 1/√head_dim (``scale_attn_weights``), further 1/(layer+1) with the inverse-layer option."""
    scale = head_dim**-0.5 if getattr(config, "scale_attn_weights", True) else 1.0
    if getattr(config, "scale_attn_by_inverse_layer_idx", False):
        scale /= float(layer_index + 1)
    return scale
