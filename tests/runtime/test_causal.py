"""``CausalRuntime`` and ``acc-generate`` (runtime/causal.py, tools/generate.py) on the tiny causal bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from acc.modeling.causal.checkpoint import load_causal_model
from acc.modeling.causal.decoding import TorchCausalStep
from acc.profiles import BundleError, DataError, PolicyError
from acc.runtime.causal import CausalRuntime
from acc.runtime.generate import GenerationConfig, generate

PROMPTS = ["a gorgeous , witty , seductive movie .", "the plot is flat"]


@pytest.fixture(scope="module")
def runtime(tiny_gpt2_bundle: Path) -> CausalRuntime:
    return CausalRuntime.load(tiny_gpt2_bundle, threads=1)


@pytest.mark.parametrize("speedup", [None, 2.0])
def test_greedy_text_on_ort_equals_pytorch(runtime: CausalRuntime, tiny_gpt2_checkpoint: Path, speedup) -> None:
    out = runtime.generate(PROMPTS, speedup=speedup, max_new_tokens=10, eos_token_id=None)
    loaded = load_causal_model(tiny_gpt2_checkpoint)
    batch = runtime.encode(PROMPTS)
    step = TorchCausalStep(loaded.model, torch.as_tensor(batch.input_ids), torch.as_tensor(batch.attention_mask),
                           list(out.keep_ratios))  # fmt: skip
    ref = generate(step, GenerationConfig(max_new_tokens=10))
    assert out.token_ids == ref.token_lists()
    assert out.profile == ("dense" if speedup is None else "s2")
    assert max(out.cache_lengths[0]) == max(out.prompt_lengths)  # layer 1 sees the whole prompt
    assert out.ttft_ms > 0 and out.tokens_per_s > 0 and all(isinstance(t, str) for t in out.texts)


def test_unshipped_speedup_runs_the_adjustable_graph_with_pruned_caches(runtime: CausalRuntime) -> None:
    out = runtime.generate(PROMPTS[:1], speedup=1.7, max_new_tokens=3)
    assert out.profile == "s1.7" and out.cache_lengths[-1][0] < out.prompt_lengths[0]
    with pytest.raises(PolicyError, match="unreachable"):
        runtime.generate(PROMPTS[:1], speedup=50.0)


def test_sampling_is_reproducible_per_seed(runtime: CausalRuntime) -> None:
    def run(seed: int) -> list[list[int]]:
        return runtime.generate(PROMPTS, max_new_tokens=8, do_sample=True, temperature=1.5, top_k=40, top_p=0.95,
                                seed=seed, eos_token_id=None).token_ids  # fmt: skip

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_bad_requests_and_bundles_fail_with_one_line(runtime: CausalRuntime, tiny_bundle: Path) -> None:
    with pytest.raises(DataError, match="positions"):
        runtime.generate(["word " * 600])
    with pytest.raises(DataError, match="no prompts"):
        runtime.generate([])
    with pytest.raises(BundleError, match="not a causal LM"):
        CausalRuntime.load(tiny_bundle)


def test_acc_generate_cli(tiny_gpt2_bundle: Path, capsys) -> None:
    from acc.tools.generate import main

    assert main([str(tiny_gpt2_bundle), "-p", PROMPTS[0], "--speedup", "1.5", "--max-new-tokens", "4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["profile"] == "s1.5" and len(data["token_ids"][0]) == 4
    assert main([str(tiny_gpt2_bundle), "-p", "x", "--speedup", "50"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_acc_generate_prints_prompt_and_continuation_as_plain_text(runtime: CausalRuntime, tiny_gpt2_bundle: Path,
                                                                 capsys) -> None:  # fmt: skip
    """Like Hugging Face text-generation: the prompt, then its continuation, no arrow; --json keeps them apart."""
    from acc.tools.generate import main

    expected = runtime.generate(PROMPTS, max_new_tokens=4).texts
    argv = [str(tiny_gpt2_bundle), "-p", PROMPTS[0], "-p", PROMPTS[1], "--max-new-tokens", "4", "--device", "cpu"]
    assert main(argv) == 0
    assert capsys.readouterr().out == "".join(f"{p}{t}\n" for p, t in zip(PROMPTS, expected))
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prompts"] == PROMPTS and data["texts"] == expected


def test_acc_generate_errors_speak_the_command_line(tiny_gpt2_bundle: Path, tiny_bundle: Path, capsys) -> None:
    """Fixes spelled as flags, the model called a model (not an encoder), grammatical articles (issue #16 item 4)."""
    from acc.runtime.session import available_ort_providers
    from acc.tools.generate import main

    assert main([str(tiny_gpt2_bundle), "-p", "x", "--speedup", "50"]) == 2
    err = capsys.readouterr().err
    assert "speedup 50 is unreachable for a 3-layer model" in err and "encoder" not in err
    assert main([str(tiny_bundle), "-p", "x"]) == 2
    err = capsys.readouterr().err
    assert "holds an encoder-classifier model, not a causal LM; serve it with acc-serve BUNDLE" in err
    if "CUDAExecutionProvider" not in available_ort_providers():
        assert main([str(tiny_gpt2_bundle), "-p", "x", "--device", "cuda"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1
        assert "--device cpu" in err and "device='cpu'" not in err
    with pytest.raises(SystemExit):
        main([str(tiny_gpt2_bundle), "-p", "x", "--device", "gpu"])
    assert "invalid device 'gpu'; pass auto, cpu, cuda or cuda:N" in capsys.readouterr().err


def test_the_runtime_imports_neither_torch_nor_transformers() -> None:
    code = "import sys, acc.runtime.causal; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )
