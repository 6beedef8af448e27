"""The ACC BERT forward pass for GPUs: fused QKV, fused SDPA, and the ACC score + selection of a static plan.

Same weights and the same semantics as ``AccBertForSequenceClassification`` (the reference), built for speed:
one QKV GEMM per layer, fused attention (no n×n tensor) and, with ``method="fused"``, Triton kernels per
selection (column sums from Q, K and the attention's log-sum-exp; then score, top-k, order and gather in one
launch, or two for large batches). Nothing in ``forward``
syncs with the host and every shape comes from the plan, so a pass can be captured in a CUDA graph
(``acc.modeling.fast.graphs``). ``method="naive"`` is the straightforward version the kernels replace.
"""

from __future__ import annotations

import copy
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from acc.modeling.kernels import column_sums, select_fused, select_static
from acc.modeling.model import AccOutput
from acc.modeling.score import acc_score
from acc.profiles import ModelError

from .attention import LSE_SOURCES, attention, attention_probs, attention_with_lse, key_bias
from .plan import StaticPlan


class _Layer(nn.Module):
    """One BERT layer's weights, QKV concatenated so the three projections are one GEMM."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self_attn = layer.attention.self
        parts = (self_attn.query, self_attn.key, self_attn.value)
        self.register_buffer("qkv_w", torch.cat([p.weight.detach() for p in parts]))
        self.register_buffer("qkv_b", torch.cat([p.bias.detach() for p in parts]))
        self.attn_out = copy.deepcopy(layer.attention.output.dense)
        self.attn_norm = copy.deepcopy(layer.attention.output.LayerNorm)
        self.ffn_in = copy.deepcopy(layer.intermediate.dense)
        self.act = copy.deepcopy(layer.intermediate.intermediate_act_fn)
        self.ffn_out = copy.deepcopy(layer.output.dense)
        self.ffn_norm = copy.deepcopy(layer.output.LayerNorm)


class FastAccBert(nn.Module):
    """Inference-only ACC BERT classifier. ``lse_source``: ``auto`` (aten's fused attention, Triton kernel where
    that op refuses), ``sdpa`` or ``kernel``; ``kernel_backend`` picks triton or the PyTorch references."""

    def __init__(self, model: nn.Module, lse_source: str = "auto", kernel_backend: str = "auto") -> None:
        super().__init__()
        hf = getattr(model, "hf", model)
        if not hasattr(hf, "bert") or not hasattr(hf, "classifier"):
            raise ModelError(
                f"{type(hf).__name__} is not a BERT sequence classifier; pass an ACC or Hugging Face BERT classifier"
            )
        if lse_source not in ("auto", *LSE_SOURCES):
            raise ModelError(f"unknown lse_source {lse_source!r}; pass auto, {', '.join(LSE_SOURCES)}")
        config = hf.config
        self.num_heads = int(config.num_attention_heads)
        self.head_dim = int(config.hidden_size) // self.num_heads
        self.scale = self.head_dim**-0.5
        self.min_keep = int(getattr(model, "min_keep", 1))
        self.lse_source = lse_source
        self.kernel_backend = kernel_backend
        self.lse_fallbacks: list[str] = []  # why aten's log-sum-exp was refused, once per distinct reason
        self.embeddings = copy.deepcopy(hf.bert.embeddings)
        self.layers = nn.ModuleList(_Layer(layer) for layer in hf.bert.encoder.layer)
        self.pooler = copy.deepcopy(hf.bert.pooler)
        self.classifier = copy.deepcopy(hf.classifier)
        self.residual_in_gemm = _fold_residual_biases(self.embeddings, self.layers)
        self.requires_grad_(False)
        self.eval()

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @torch.inference_mode()
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None,
        plan: StaticPlan,
    ) -> AccOutput:
        """Logits and, per layer, the slots' original positions and mask ([B, plan.slots[l]] each)."""
        batch, seq_len = input_ids.shape
        if seq_len != plan.seq_len or plan.num_layers != self.num_layers:
            raise ModelError(
                f"inputs of length {seq_len} for a plan of length {plan.seq_len} with {plan.num_layers} layers "
                f"(model: {self.num_layers}); pad inputs to the plan's length and build the plan for this model"
            )
        mask = attention_mask.long()
        hidden = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        positions = torch.arange(seq_len, device=input_ids.device)[None, :].expand(batch, seq_len)
        n_valid = mask.sum(dim=1)
        bias = key_bias(mask, hidden.dtype) if plan.padded else None
        selected = set(plan.select_layers)
        kept_positions: list[torch.Tensor] = []
        kept_masks: list[torch.Tensor] = []
        carry: tuple[torch.Tensor, ...] = ()
        for index, layer in enumerate(self.layers):
            if index in selected:
                hidden, mask, positions = self._select(plan, index, hidden, mask, positions, n_valid, carry)
                if plan.padded:
                    bias = key_bias(mask, hidden.dtype)
            kept_positions.append(positions)
            kept_masks.append(mask)
            feeds_selection = index + 1 in selected
            hidden, carry = self._layer(layer, hidden, bias, mask, plan.method if feeds_selection else "dense")
        pooled = self.pooler(hidden) if self.pooler is not None else hidden[:, 0]
        return AccOutput(self.classifier(pooled), kept_positions, kept_masks)

    def _layer(
        self, layer: _Layer, x: torch.Tensor, bias: torch.Tensor | None, mask: torch.Tensor, method: str
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """One encoder layer; also returns what the next selection needs: (probs,) for naive, (q, k, lse) for fused."""
        batch, n, width = x.shape
        qkv = F.linear(x, layer.qkv_w, layer.qkv_b).view(batch, n, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        carry: tuple[torch.Tensor, ...] = ()
        if method == "fused":
            context, lse = self._attention_with_lse(q, k, v, bias, mask)
            carry = (q, k, lse)
        elif method == "naive":
            context, probs = attention_probs(q, k, v, bias, self.scale)
            carry = (probs,)
        else:
            context = attention(q, k, v, bias, self.scale)
        context = context.transpose(1, 2).reshape(batch, n, width)
        if not self.residual_in_gemm:
            x = layer.attn_norm(layer.attn_out(context) + x)
            return layer.ffn_norm(layer.ffn_out(layer.act(layer.ffn_in(x))) + x), carry
        # x already carries the output projection's bias (see _fold_residual_biases): GEMM + residual is one addmm.
        # In place (addmm_): an out-of-place addmm first copies the residual into its output (a device-to-device
        # memcpy, two per layer); x is this layer's own input or LayerNorm output, read by nothing after this.
        rows = batch * n
        x = layer.attn_norm(x.reshape(rows, width).addmm_(context.reshape(rows, width), layer.attn_out.weight.t()))
        inner = layer.act(layer.ffn_in(x))
        out = x.reshape(rows, width).addmm_(inner.reshape(rows, -1), layer.ffn_out.weight.t())
        return layer.ffn_norm(out.view(batch, n, width)), carry

    def _attention_with_lse(self, q, k, v, bias, mask):  # noqa: ANN001, ANN202 - tensors, see attention_with_lse
        if self.lse_source in ("auto", "sdpa"):
            try:
                return attention_with_lse(q, k, v, bias, mask, self.scale, "sdpa")
            except (RuntimeError, NotImplementedError) as exc:
                if self.lse_source == "sdpa":
                    raise ModelError(
                        f"fused attention refused to return its log-sum-exp ({exc}); pass lse_source='kernel'"
                    ) from exc
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                if reason not in self.lse_fallbacks:
                    self.lse_fallbacks.append(reason)
                    warnings.warn(f"aten attention gave no log-sum-exp ({reason}); using the lse kernel", stacklevel=3)
        return attention_with_lse(q, k, v, bias, mask, self.scale, "kernel", self.kernel_backend)

    def _select(self, plan, index, hidden, mask, positions, n_valid, carry):  # noqa: ANN001, ANN202 - see forward
        ratio = plan.keep_ratios[index]
        slots = plan.slots[index]
        if plan.method == "naive":
            score = acc_score(carry[0], mask)
            chosen = select_static(hidden, mask, positions, score, n_valid, ratio, slots, plan.min_keep)
        else:
            q, k, lse = carry
            partial = column_sums(q, k, lse, mask, self.scale, backend=self.kernel_backend)
            chosen, _ = select_fused(hidden, mask, positions, partial, n_valid, ratio, slots, plan.min_keep,
                                     backend=self.kernel_backend)  # fmt: skip
        return chosen.hidden, chosen.mask, chosen.positions


@torch.no_grad()
def _fold_residual_biases(embeddings: nn.Module, layers: nn.ModuleList) -> bool:
    """Move each residual branch's output bias into the LayerNorm before it, so GEMM + residual is one ``addmm``.

    ``LN(h·Wᵀ + b + x)`` with x = LN_prev(·) equals ``LN(h·Wᵀ + x')`` where x' = x + b comes out of LN_prev with
    bias β + b; every other reader of x' then subtracts b through its own bias (Q/K/V, FFN in: b_in − W_in·b).
    Exact in real arithmetic (fp16 rounds the folded biases once); saves two elementwise kernels per layer. The last
    layer's output is not shifted (pooler and classifier read it as is). False (nothing changed) when a bias is
    missing, e.g. an unusual BERT variant.
    """
    norms = [getattr(embeddings, "LayerNorm", None)] + [layer.ffn_norm for layer in layers][:-1]
    parts = [(layer.attn_out.bias, layer.ffn_out.bias, layer.attn_norm.bias, layer.ffn_in.bias) for layer in layers]
    if any(n is None or n.bias is None for n in norms) or any(t is None for part in parts for t in part):
        return False
    for norm, layer in zip(norms, layers):
        b_attn, b_ffn = layer.attn_out.bias, layer.ffn_out.bias
        norm.bias += b_attn
        layer.qkv_b -= layer.qkv_w @ b_attn
        layer.attn_norm.bias += b_ffn
        layer.ffn_in.bias -= layer.ffn_in.weight @ b_ffn
        b_attn.zero_()  # not read any more; zero so a plain nn.Linear call would still be right
        b_ffn.zero_()
    return True


def to_fast(model: nn.Module, dtype: torch.dtype = torch.float16, device: torch.device | str | None = None,
            **options: str) -> FastAccBert:  # fmt: skip
    """A ``FastAccBert`` copy of ``model`` (ACC or HF BERT classifier) in ``dtype`` on ``device``."""
    fast = FastAccBert(model, **options)
    return fast.to(device=device, dtype=dtype) if device is not None else fast.to(dtype=dtype)
