"""GPU latency of ACC prefill elimination at GPT-2-small shapes (12 × 768, random init: latency only).

For each prompt length and batch: TTFT (prefill + argmax of the first token) and decode tokens/s over the pruned
cache, for the plain Hugging Face GPT-2 (SDPA, its own KV cache: the baseline a user deploys), our wrapper dense
(same code path as the profiles, to separate overhead from elimination) and each profile offline-tuned at that
prompt length. Timed with CUDA events, median of ``iters`` runs after warm-up, all in one process.

``fused-*`` rows run the same profiles with ``attention="fused"`` (acc.modeling.causal.fused): SDPA causal attention
everywhere, the score from Q, K and the attention's log-sum-exp by the Triton kernels, one-launch selection with a
static slot count (no host sync). The other ACC rows materialise the selecting layers' probabilities (eager).
Decode steps are capped so prompt + steps stays inside the model's ``n_positions`` (GPT-2's position table).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

import torch

from acc.modeling.causal import AccGPT2LMHeadModel
from acc.profiles import profile_for_speedup


def cuda_ms(fn: Callable[[], Any], iters: int, warmup: int = 3) -> tuple[float, list[float]]:
    """Median milliseconds of ``fn`` (CUDA events around each call; falls back to wall clock on CPU)."""
    import time

    for _ in range(warmup):
        fn()
    samples: list[float] = []
    for _ in range(iters):
        if torch.cuda.is_available():
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            samples.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples), samples


def fused_status(device: str) -> str | None:
    """None when the fused causal prefill runs on ``device``; else why not (its rows are then left out)."""
    from acc.modeling.kernels import triton_status

    return triton_status(device)


def check_fused(device: str, seq: int = 300) -> dict[str, Any]:
    """Fused vs eager prefill in fp32 (4-layer GPT-2-small width, left padding, 2.5x): same kept sets and logits?"""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(n_layer=4, vocab_size=1000)).to(device).eval()
    eager, fused = AccGPT2LMHeadModel(hf, attention="eager"), AccGPT2LMHeadModel(hf, attention="fused")
    ids = torch.randint(1, 1000, (4, seq), device=device)
    mask = torch.ones_like(ids)
    mask[1, : seq // 3], mask[3, : seq - seq // 6] = 0, 0
    ratios = profile_for_speedup(eager.shape, 2.5, reference_length=seq).keep_ratios
    result: dict[str, Any] = {"shapes": f"4 x 768 GPT-2, batch 4, prompt {seq}, fp32, 2.5x", "cases": []}
    for name, attention_mask in (("no padding", None), ("left padding", mask)):
        with torch.no_grad():
            a, b = eager.prefill(ids, attention_mask, ratios), fused.prefill(ids, attention_mask, ratios)
        same = all(torch.equal(pa[m > 0], pb[:, : pa.shape[1]][m > 0])
                   for pa, pb, m in zip(a.kept_positions, b.kept_positions, a.kept_masks))  # fmt: skip
        err = float((a.logits - b.logits).abs().max())
        result["cases"].append({"case": name, "kept_positions_equal": same, "max_abs_logit_err": err})
    result["passed"] = all(c["kept_positions_equal"] and c["max_abs_logit_err"] < 1e-3 for c in result["cases"])
    return result


def measure(
    config: Any, prompts: Sequence[int], batches: Sequence[int], speedups: Sequence[float], iters: int,
    decode_steps: int, device: str, dtype: torch.dtype, log: Callable[[str], None] = print, fused: bool = True,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per (prompt, batch, variant): ttft_ms, decode tokens/s, cache lengths, speedups vs the HF baseline."""
    from transformers import GPT2LMHeadModel

    torch.manual_seed(0)
    hf = GPT2LMHeadModel._from_config(config, attn_implementation="sdpa").to(device=device, dtype=dtype).eval()
    acc = AccGPT2LMHeadModel(hf, attention="sdpa").eval()
    fused_model = AccGPT2LMHeadModel(hf, attention="fused").eval()
    reason = fused_status(device) if fused else "not asked for"
    log("fused causal prefill: " + ("on (fused-* rows)" if reason is None else f"off, no fused-* rows ({reason})"))
    rows: list[dict[str, Any]] = []
    for seq in prompts:
        steps = max(1, min(decode_steps, config.n_positions - seq - 1))  # wpe has n_positions rows
        if steps < decode_steps:
            log(f"prompt {seq}: decode capped at {steps} steps (n_positions {config.n_positions})")
        for batch in batches:
            ids = torch.randint(0, config.vocab_size, (batch, seq), device=device)
            first = torch.randint(0, config.vocab_size, (batch, 1), device=device)
            variants: list[tuple[str, float, tuple[float, ...] | None, float, AccGPT2LMHeadModel]] = [
                ("hf-dense", 1.0, None, 1.0, acc), ("acc-dense", 1.0, None, 1.0, acc)]  # fmt: skip
            profiles = [(s, profile_for_speedup(acc.shape, s, reference_length=seq)) for s in speedups]
            variants += [(f"s{s:g}", s, p.keep_ratios, p.theoretical_speedup, acc) for s, p in profiles]
            if reason is None:
                variants.append(("fused-dense", 1.0, None, 1.0, fused_model))
                variants += [
                    (f"fused-s{s:g}", s, p.keep_ratios, p.theoretical_speedup, fused_model) for s, p in profiles
                ]
            for name, target, ratios, theoretical, model in variants:
                with torch.no_grad():
                    row = _measure_variant(hf, model, name, ratios, ids, first, iters, steps)
                row.update(prompt=seq, batch=batch, variant=name, target_speedup=target, theoretical_speedup=theoretical,
                           keep_ratios=list(ratios) if ratios else None, attention=model.attention)  # fmt: skip
                rows.append(row)
                log(f"prompt {seq} batch {batch} {name:>12}: TTFT {row['ttft_ms']:.2f} ms, "
                    f"decode {row['decode_tokens_per_s']:.0f} tok/s, cache {row['cache_lengths']}")  # fmt: skip
            base = next(r for r in rows if r["prompt"] == seq and r["batch"] == batch and r["variant"] == "hf-dense")
            own = next(r for r in rows if r["prompt"] == seq and r["batch"] == batch and r["variant"] == "acc-dense")
            for r in rows:
                if r["prompt"] == seq and r["batch"] == batch:
                    r["ttft_speedup_vs_hf"] = base["ttft_ms"] / r["ttft_ms"]
                    r["ttft_speedup_vs_acc_dense"] = own["ttft_ms"] / r["ttft_ms"]
                    r["decode_speedup_vs_hf"] = r["decode_tokens_per_s"] / base["decode_tokens_per_s"]
                    if r["variant"].startswith("fused-"):  # vs the same profile with the eager score
                        plain = r["variant"].removeprefix("fused-").replace("dense", "acc-dense")
                        twin = next(t for t in rows if (t["prompt"], t["batch"], t["variant"]) == (seq, batch, plain))
                        r["ttft_speedup_vs_unfused"] = twin["ttft_ms"] / r["ttft_ms"]
    return rows


def _measure_variant(hf, acc, name, ratios, ids, first, iters: int, decode_steps: int) -> dict[str, Any]:
    if name == "hf-dense":

        def prefill() -> Any:
            out = hf(ids, use_cache=True, logits_to_keep=1)
            return out.logits[:, -1].argmax(-1), out.past_key_values

        def decode(state: Any) -> None:
            past = state[1]
            token = first
            for _ in range(decode_steps):
                out = hf(token, past_key_values=past, use_cache=True)  # 5.17 and 5.24 both accept this name
                past = out.past_key_values
                token = out.logits[:, -1:].argmax(-1)

        lengths = [ids.shape[1]] * len(hf.transformer.h)
    else:

        def prefill() -> Any:
            out = acc.prefill(ids, None, ratios)
            return out.logits.argmax(-1), out

        def decode(state: Any) -> None:
            out = state[1]
            cache, positions, token = out.cache, out.next_positions[:, None], first
            for _ in range(decode_steps):
                logits, cache = acc.extend(cache, token, positions)
                positions = positions + 1
                token = logits[:, -1:].argmax(-1)

        lengths = [int(c.lengths.max()) for c in prefill()[1].cache]
    ttft_ms, samples = cuda_ms(prefill, iters)
    decode_times: list[float] = []
    for _ in range(max(3, iters // 4)):
        state = prefill()  # untimed: each decode run starts from a fresh cache of this profile
        decode_times.append(cuda_ms(lambda: decode(state), iters=1, warmup=0)[0])
    decode_only = statistics.median(decode_times[1:])  # the first run is a warm-up
    return {"ttft_ms": ttft_ms, "ttft_p90_ms": sorted(samples)[int(0.9 * (len(samples) - 1))],
            "decode_ms_per_token": decode_only / decode_steps,
            "decode_tokens_per_s": ids.shape[0] * decode_steps / (decode_only / 1e3), "cache_lengths": lengths,
            "decode_steps": decode_steps, "iters": iters}  # fmt: skip
