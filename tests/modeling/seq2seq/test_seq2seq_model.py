"""ACC T5: dense equivalence with Hugging Face (logits and generated tokens), keep counts per layer, position bias
from original positions, and elimination checked against an independent per-sample reference."""

from __future__ import annotations

import pytest
import torch

from acc.modeling.seq2seq import load_seq2seq
from acc.modeling.seq2seq.attention import relative_bias
from acc.profiles import ModelError, keep_count, profile_for_speedup

RATIOS = [1.0, 0.55, 0.3]


@pytest.fixture(scope="module")
def tiny(tiny_t5_checkpoint):
    return load_seq2seq(tiny_t5_checkpoint).model


def _batch(lengths: list[int], seq_len: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 1000, (len(lengths), seq_len), generator=generator)
    mask = (torch.arange(seq_len)[None, :] < torch.tensor(lengths)[:, None]).long()
    return ids * mask, mask


def test_keep_ratio_one_reproduces_hugging_face_logits(tiny) -> None:
    ids, mask = _batch([19, 7, 2], 19)
    decoder_ids = torch.randint(3, 1000, (3, 6), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = tiny.hf(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits
        dense = tiny(ids, mask, decoder_ids).logits
        ones = tiny(ids, mask, decoder_ids, keep_ratios=[1.0] * 3, select_layers=[1, 2]).logits
        encoded = tiny.encode(ids, mask)
        past, steps = None, []
        for t in range(decoder_ids.shape[1]):  # the cached step path the decoder graph exports
            out = tiny.decode(decoder_ids[:, t : t + 1], encoded.hidden, encoded.mask, past)
            past = out.past
            steps.append(out.logits)
    torch.testing.assert_close(dense, reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(ones, reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.cat(steps, dim=1), reference, atol=1e-5, rtol=0)


def test_keep_ratio_one_generates_hugging_face_tokens(tiny) -> None:
    from acc.modeling.seq2seq.decoding import TorchSeq2SeqStep
    from acc.runtime.generate import GenerationConfig, generate

    ids, mask = _batch([15, 9, 4], 15, seed=2)
    config = GenerationConfig(
        max_new_tokens=7, eos_token_id=tiny.config.eos_token_id, pad_token_id=tiny.config.pad_token_id
    )
    ours = generate(TorchSeq2SeqStep(tiny, ids, mask, [1.0] * 3, [1, 2]), config).tokens
    with torch.no_grad():
        theirs = tiny.hf.generate(input_ids=ids, attention_mask=mask, max_new_tokens=7, do_sample=False, num_beams=1)
    assert ours.tolist() == theirs[:, 1:].tolist()  # HF's rows start with the decoder start token


def test_tokens_entering_each_encoder_layer_match_profile(tiny) -> None:
    profile = profile_for_speedup(tiny.shape, 1.8)
    lengths = list(range(1, 49))
    ids, mask = _batch(lengths, 48, seed=3)
    with torch.no_grad():
        out = tiny.encode(ids, mask, profile.keep_ratios)
    for row, length in enumerate(lengths):
        seen = [int(layer_mask[row].sum()) for layer_mask in out.kept_masks]
        assert seen == profile.keep_counts(length), f"length {length}"
        assert int(out.mask[row].sum()) == profile.keep_counts(length)[-1]  # the decoder sees the last layer's set


def test_position_bias_is_the_dense_bias_at_the_kept_positions(tiny) -> None:
    attention = tiny.hf.encoder.block[0].layer[0].SelfAttention
    kept = torch.tensor([[0, 3, 4, 9, 17, 30], [1, 2, 5, 6, 7, 8]])
    with torch.no_grad():
        dense = attention.compute_bias(31, 31)[0]  # Hugging Face's own [H, 31, 31] bias for positions 0..30
        ours = relative_bias(attention.relative_attention_bias, kept, kept, True, tiny.num_buckets, tiny.max_distance)
    for row in range(2):
        expected = dense[:, kept[row]][:, :, kept[row]]
        torch.testing.assert_close(ours[row], expected, atol=0, rtol=0)


def _reference_encode(model, ids: torch.Tensor, ratios: list[float]) -> tuple[torch.Tensor, list[list[int]]]:
    """One unpadded sample through Hugging Face's own layer modules: HF's dense position bias gathered at the kept
    positions, ACC as the plain column mean of HF's attention probabilities, top-k by ``keep_count``."""
    model.hf.set_attn_implementation("eager")  # HF returns attention probabilities only from eager attention
    encoder = model.hf.encoder
    n = ids.shape[1]
    hidden = encoder.embed_tokens(ids)
    full_bias = encoder.block[0].layer[0].SelfAttention.compute_bias(n, n)
    positions = torch.arange(n)
    seen: list[list[int]] = []
    probs = None
    for index, block in enumerate(encoder.block):
        if index > 0 and ratios[index] < ratios[index - 1]:
            score = probs[0].sum(dim=(0, 1)) / (probs.shape[1] * hidden.shape[1])
            k = keep_count(ratios[index], n, hidden.shape[1])
            chosen = torch.sort(torch.topk(score, k).indices).values
            hidden, positions = hidden[:, chosen], positions[chosen]
        seen.append(positions.tolist())
        bias = full_bias[:, :, positions][:, :, :, positions]
        hidden, _, probs = block.layer[0](hidden, position_bias=bias)
        hidden = block.layer[1](hidden)
    return encoder.final_layer_norm(hidden), seen


def test_elimination_matches_independent_reference_in_a_padded_batch(tiny) -> None:
    lengths = [33, 12, 25]
    ids, mask = _batch(lengths, 33, seed=4)
    with torch.no_grad():
        out = tiny.encode(ids, mask, RATIOS)
        for row, length in enumerate(lengths):
            hidden, seen = _reference_encode(tiny, ids[row : row + 1, :length], RATIOS)
            for layer, positions in enumerate(seen):
                kept = out.kept_positions[layer][row][out.kept_masks[layer][row] > 0]
                assert kept.tolist() == positions, f"row {row} layer {layer + 1}"
            kept_slots = out.mask[row] > 0
            torch.testing.assert_close(out.hidden[row][kept_slots], hidden[0], atol=1e-5, rtol=0)


def test_sample_alone_equals_sample_in_padded_batch(tiny) -> None:
    lengths = [21, 3, 14, 1]
    ids, mask = _batch(lengths, 21, seed=5)
    decoder_ids = torch.full((4, 2), tiny.start_token_id)
    with torch.no_grad():
        batched = tiny(ids, mask, decoder_ids, keep_ratios=RATIOS).logits
        for row, length in enumerate(lengths):
            alone = tiny(ids[row : row + 1, :length], mask[row : row + 1, :length], decoder_ids[:1], keep_ratios=RATIOS)
            torch.testing.assert_close(alone.logits[0], batched[row], atol=1e-5, rtol=0)


def test_wrong_number_of_ratios_is_a_clear_error(tiny) -> None:
    ids, mask = _batch([5], 5)
    with pytest.raises(ModelError, match="3 layers"):
        tiny.encode(ids, mask, keep_ratios=[1.0, 0.5])


def test_t5_v1_1_layout_matches_hugging_face_and_has_its_flops_shape() -> None:
    """Flan-T5 / T5 v1.1: gated-GELU FFN, untied LM head (no output rescaling), attention width != d_model."""
    from transformers import T5Config, T5ForConditionalGeneration

    from acc.modeling.seq2seq import AccT5ForConditionalGeneration
    from acc.profiles import layer_flops

    torch.manual_seed(0)
    config = T5Config(vocab_size=300, d_model=24, d_kv=8, num_heads=4, d_ff=40, num_layers=2, num_decoder_layers=1,
                      feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=0.0,
                      decoder_start_token_id=0)  # fmt: skip
    model = AccT5ForConditionalGeneration(T5ForConditionalGeneration(config).eval())
    assert not model.scale_output
    ids, mask = _batch([9, 4], 9)
    ids = ids % 300
    decoder_ids = torch.tensor([[0, 5, 7], [0, 9, 2]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids, mask, decoder_ids).logits,
                                   model.hf(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits,
                                   atol=1e-5, rtol=0)  # fmt: skip
    shape = model.shape
    assert (shape.attention_size, shape.gated_ffn, shape.intermediate_size) == (32, True, 40)
    n, d, a, f = 10, 24, 32, 40
    assert layer_flops(n, shape) == 8 * n * d * a + 6 * n * d * f + 4 * n * n * a
