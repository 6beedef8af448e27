"""The shared decoding loop (runtime/generate.py): filters, greedy, seeded sampling, eos handling, timing fields."""

from __future__ import annotations

import numpy as np
import pytest

from acc.profiles import DataError
from acc.runtime.generate import GenerationConfig, choose_tokens, filter_logits, generate


class ScriptedStep:
    """A real step callable over a fixed next-token table: logits favour ``table[last_token]``."""

    def __init__(self, table: dict[int, int], vocab: int = 8, batch: int = 2, first: tuple[int, ...] = (1, 2)) -> None:
        self.table, self.vocab, self.batch, self.first = table, vocab, batch, first
        self.fed: list[list[int]] = []

    def __call__(self, tokens: np.ndarray | None) -> np.ndarray:
        logits = np.zeros((self.batch, self.vocab), dtype=np.float32)
        nxt = self.first if tokens is None else [self.table[int(t)] for t in tokens]
        if tokens is not None:
            self.fed.append([int(t) for t in tokens])
        logits[np.arange(self.batch), list(nxt)] = 5.0
        return logits


def test_top_k_and_top_p_keep_the_right_tokens() -> None:
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], dtype=np.float32))
    assert np.isfinite(filter_logits(logits, top_k=2)).tolist() == [[True, True, False, False]]
    assert np.isfinite(filter_logits(logits, top_p=0.7)).tolist() == [[True, True, False, False]]
    assert np.isfinite(filter_logits(logits, top_p=0.5)).tolist() == [[True, False, False, False]]
    assert np.isfinite(filter_logits(logits, top_p=0.01)).sum() == 1  # the best token always survives
    assert np.allclose(filter_logits(logits, temperature=2.0), logits / 2)


def test_greedy_follows_the_argmax_and_stops_rows_at_eos() -> None:
    step = ScriptedStep({1: 3, 2: 7, 3: 7, 7: 4})
    out = generate(step, GenerationConfig(max_new_tokens=6, eos_token_id=7, pad_token_id=0))
    assert out.tokens.tolist() == [[1, 3, 7], [2, 7, 0]]
    assert out.lengths.tolist() == [3, 2] and out.finished.tolist() == [True, True]
    assert out.token_lists() == [[1, 3, 7], [2, 7]]
    assert step.fed == [[1, 2], [3, 7]]  # each row is fed what it emitted; its eos, then pad ids, are ignored
    assert out.ttft_ms > 0 and len(out.step_ms) == 2 and out.tokens_per_s > 0


def test_max_new_tokens_bounds_the_output_and_stopped_rows_get_pad() -> None:
    step = ScriptedStep({1: 1, 2: 5, 5: 2, 0: 3})
    out = generate(step, GenerationConfig(max_new_tokens=4, eos_token_id=5, pad_token_id=0))
    assert out.tokens.tolist() == [[1, 1, 1, 1], [2, 5, 0, 0]]
    assert step.fed[-1] == [1, 0] and out.finished.tolist() == [False, True]


def test_sampling_is_reproducible_with_a_seed_and_follows_the_distribution() -> None:
    logits = np.log(np.array([[0.7, 0.2, 0.1, 1e-9]] * 4000, dtype=np.float32))
    config = GenerationConfig(do_sample=True, seed=5)
    draws = choose_tokens(logits, config, np.random.default_rng(5))
    again = choose_tokens(logits, config, np.random.default_rng(5))
    assert np.array_equal(draws, again)
    freq = np.bincount(draws, minlength=4) / len(draws)
    assert np.allclose(freq[:3], [0.7, 0.2, 0.1], atol=0.03) and freq[3] == 0
    top1 = choose_tokens(logits, GenerationConfig(do_sample=True, top_k=1), np.random.default_rng(0))
    assert (top1 == 0).all()


def test_config_errors_are_one_line() -> None:
    with pytest.raises(DataError, match="max_new_tokens"):
        GenerationConfig(max_new_tokens=0)
    with pytest.raises(DataError, match="temperature"):
        GenerationConfig(do_sample=True, temperature=0.0)
    with pytest.raises(DataError, match="top_p"):
        GenerationConfig(top_p=1.5)
    with pytest.raises(DataError, match="batch, vocab"):
        generate(lambda tokens: np.zeros(3), GenerationConfig())
    assert GenerationConfig(eos_token_id=(4, 9)).eos_ids == (4, 9) and GenerationConfig(eos_token_id=4).pad_id == 4
