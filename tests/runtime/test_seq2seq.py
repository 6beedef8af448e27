"""Seq2SeqRuntime: text generation from a T5 bundle on ONNX Runtime equals PyTorch (dense: Hugging Face too)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from acc.profiles import BundleError, DataError, Profile
from acc.runtime.seq2seq import Seq2SeqRuntime

TEXTS = [
    "a gorgeous , witty , seductive movie .",
    "flat and boring .",
    "the acting is fine but the plot never comes alive",
]


@pytest.fixture(scope="module")
def runtime(tiny_t5_bundle):
    rt = Seq2SeqRuntime.load(tiny_t5_bundle, device="cpu", threads=1)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def torch_model(tiny_t5_checkpoint):
    from acc.modeling.seq2seq import load_seq2seq

    return load_seq2seq(tiny_t5_checkpoint).model


def _torch_tokens(model, runtime, prompts, ratios, max_new_tokens) -> list[list[int]]:
    from acc.modeling.seq2seq.decoding import TorchSeq2SeqStep
    from acc.runtime.generate import GenerationConfig, generate

    batch = runtime.encoder.encode(prompts)
    step = TorchSeq2SeqStep(model, torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask), ratios)
    config = GenerationConfig(max_new_tokens=max_new_tokens, eos_token_id=runtime.decoder.eos_token_id,
                              pad_token_id=runtime.decoder.pad_token_id)  # fmt: skip
    return generate(step, config).token_lists()


def test_dense_generation_equals_hugging_face(runtime, torch_model) -> None:
    result = runtime.generate(TEXTS, speedup=1.0, max_new_tokens=6)
    batch = runtime.encoder.encode(TEXTS)
    with torch.no_grad():
        expected = torch_model.hf.generate(input_ids=torch.from_numpy(batch.input_ids), max_new_tokens=6,
                                           attention_mask=torch.from_numpy(batch.attention_mask),
                                           do_sample=False, num_beams=1)  # fmt: skip
    assert result.profile == "dense"
    assert result.generation.tokens.tolist() == expected[:, 1:].tolist()  # both pad rows that ended early
    assert result.kept_tokens == batch.attention_mask.sum(axis=1).tolist()


@pytest.mark.parametrize("speedup", [2.0, 1.7])  # a shipped profile, and the adjustable graph offline-tuned
def test_pruned_generation_equals_pytorch_and_keeps_profile_counts(
    runtime, torch_model, tiny_t5_bundle, speedup
) -> None:
    template = runtime.template("critic-opinion")
    prompts = [template.replace("{text}", text) for text in TEXTS]
    result = runtime.generate(TEXTS, template="critic-opinion", speedup=speedup, max_new_tokens=5)
    if speedup == 2.0:
        profile = Profile.load(tiny_t5_bundle / "profiles" / "s2.json")
        assert result.profile == "s2"
    else:
        profile = runtime.adhoc.get(speedup)
        assert "adjustable" in result.reason
    assert result.token_ids == _torch_tokens(torch_model, runtime, prompts, profile.keep_ratios, 5)
    lengths = runtime.encoder.encode(prompts).attention_mask.sum(axis=1)
    assert result.kept_tokens == [profile.keep_counts(int(n))[-1] for n in lengths]
    assert result.ttft_ms > 0 and result.total_ms >= result.ttft_ms and len(result.texts) == 3


def test_sampling_is_reproducible_with_a_seed(runtime) -> None:
    first = runtime.generate(TEXTS[0], speedup=1.5, do_sample=True, top_k=20, seed=7, max_new_tokens=6)
    again = runtime.generate(TEXTS[0], speedup=1.5, do_sample=True, top_k=20, seed=7, max_new_tokens=6)
    assert first.token_ids == again.token_ids and first.profile == "s1.5"


def test_bad_requests_and_bundles_fail_with_one_line(runtime, tiny_t5_bundle, tmp_path) -> None:
    with pytest.raises(DataError, match="no prompt template 'nope'"):
        runtime.generate(TEXTS, template="nope")
    copy = tmp_path / "b"
    shutil.copytree(tiny_t5_bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["model"].pop("family")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="not a seq2seq bundle"):
        Seq2SeqRuntime.load(copy)
    decoder = copy / manifest["seq2seq"]["decoder"]["graph"]
    decoder.write_bytes(decoder.read_bytes()[:-1] + b"\0")
    with pytest.raises(BundleError, match="decoder.onnx"):
        Seq2SeqRuntime.load(copy)


def test_acc_generate_cli_runs_t5_bundles(runtime, tiny_t5_bundle, capsys) -> None:
    """``acc-generate`` dispatches on the manifest's family: a T5 bundle gives the runtime's own answer."""
    from acc.tools.generate import main

    assert main([str(tiny_t5_bundle), "-p", TEXTS[0], "--speedup", "1.5", "--max-new-tokens", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = runtime.generate([TEXTS[0]], speedup=1.5, max_new_tokens=3)
    assert data["profile"] == expected.profile == "s1.5" and data["token_ids"] == expected.token_ids
    assert main([str(tiny_t5_bundle), "-p", "x", "--template", "no-such-template"]) == 2
    assert "no prompt template" in capsys.readouterr().err
    assert main([str(tiny_t5_bundle), "-p", "x", "--profile", "s1.5"]) == 2
    assert capsys.readouterr().err.startswith("error: --profile applies to causal bundles")
