"""runtime/runtime.py (+ session.py, inputs.py) on a real tiny bundle: parity with PyTorch, inputs, errors, threads."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from acc.exporter.bundle import file_digest
from acc.profiles import BundleError, DataError, PolicyError
from acc.runtime import BackendError, OrtBackend, Prediction, Runtime, SessionCache, TextEncoder

TEXTS = ["a gripping, beautifully shot film", "dull.", "the plot never quite comes together , but the cast is great"]


@pytest.fixture(scope="module")
def runtime(tiny_bundle: Path) -> Runtime:
    return Runtime.load(tiny_bundle, device="cpu", threads=1)


@pytest.fixture(scope="module")
def torch_logits(tiny_checkpoint: Path):  # noqa: ANN201 - returns a function
    """PyTorch reference: the ACC model on the same padded batch, dense or at ``keep_ratios``."""
    import torch

    from acc.modeling.checkpoint import load_model

    loaded = load_model(tiny_checkpoint)

    def run(
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        token_type_ids: np.ndarray,
        keep_ratios=None,  # noqa: ANN001
    ) -> np.ndarray:
        with torch.no_grad():
            out = loaded.model(torch.from_numpy(input_ids), torch.from_numpy(attention_mask),
                               torch.from_numpy(token_type_ids), keep_ratios=keep_ratios)  # fmt: skip
        return out.logits.numpy()

    run.tokenizer = loaded.tokenizer  # type: ignore[attr-defined]
    return run


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "bundle"))


def _rehash(bundle: Path, relative: str) -> None:
    """Update the manifest after changing a file, as an attacker or a buggy copier would."""
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    data["files"][relative] = file_digest(bundle / relative).to_json()
    path.write_text(json.dumps(data))


# ------------------------------------------------------------------------------------------------------- parity


def test_predictions_match_pytorch(runtime: Runtime, torch_logits) -> None:  # noqa: ANN001
    prediction = runtime.predict(TEXTS)
    batch = runtime.encoder.encode(TEXTS)
    reference = torch_logits(batch.input_ids, batch.attention_mask, batch.token_type_ids)
    np.testing.assert_allclose(prediction.logits, reference, atol=1e-4)
    assert isinstance(prediction, Prediction)
    assert prediction.profile == "dense" and prediction.backend == "ort-cpu"
    assert prediction.probabilities.shape == (3, 2) and prediction.probabilities.dtype == np.float32
    np.testing.assert_allclose(prediction.probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert prediction.label_ids == [int(i) for i in reference.argmax(axis=1)]
    assert prediction.labels == [["negative", "positive"][i] for i in prediction.label_ids]
    assert prediction.latency_ms > 0


def test_encoder_matches_the_transformers_tokenizer(runtime: Runtime, torch_logits) -> None:  # noqa: ANN001
    """We tokenise with `tokenizers` (no torch); it must give the ids AutoTokenizer gives."""
    expected = torch_logits.tokenizer(TEXTS, padding=True, return_tensors="np")
    batch = runtime.encoder.encode(TEXTS)
    np.testing.assert_array_equal(batch.input_ids, expected["input_ids"])
    np.testing.assert_array_equal(batch.attention_mask, expected["attention_mask"])
    np.testing.assert_array_equal(batch.token_type_ids, expected["token_type_ids"])


def test_token_ids_give_the_same_result_as_texts(runtime: Runtime) -> None:
    ids = [list(map(int, row[mask == 1])) for row, mask in zip(*_ids_and_mask(runtime))]
    from_ids = runtime.predict(ids)
    from_texts = runtime.predict(TEXTS)
    np.testing.assert_allclose(from_ids.logits, from_texts.logits, atol=1e-6)
    np.testing.assert_allclose(runtime.predict(np.array([ids[1]])).logits, from_texts.logits[1:2], atol=1e-5)


def _ids_and_mask(runtime: Runtime) -> tuple[np.ndarray, np.ndarray]:
    batch = runtime.encoder.encode(TEXTS)
    return batch.input_ids, batch.attention_mask


def test_single_text_and_predict_batch(runtime: Runtime) -> None:
    one = runtime.predict(TEXTS[1])
    many = runtime.predict_batch(TEXTS)
    assert one.probabilities.shape == (1, 2)
    np.testing.assert_allclose(one.logits[0], runtime.predict([TEXTS[1]]).logits[0], atol=1e-6)
    assert len(many.labels) == 3


# ------------------------------------------------------------------------------------------------------ profiles


def test_shipped_speedup_runs_its_graph(runtime: Runtime, torch_logits) -> None:  # noqa: ANN001
    prediction = runtime.predict(TEXTS, speedup=1.5)
    assert prediction.profile == "s1.5"
    batch = runtime.encoder.encode(TEXTS)
    ratios = runtime.manifest.profile("s1.5").profile.keep_ratios
    assert ratios[1] < 1.0  # the profile really drops word-vectors before layer 2
    reference = torch_logits(batch.input_ids, batch.attention_mask, batch.token_type_ids, keep_ratios=ratios)
    np.testing.assert_allclose(prediction.logits, reference, atol=1e-5, rtol=0)
    dense = torch_logits(batch.input_ids, batch.attention_mask, batch.token_type_ids)
    assert np.abs(prediction.logits - dense).max() > 1e-5  # and its graph is not the dense one


def test_adhoc_speedup_feeds_keep_ratios_to_the_adjustable_graph(
    tiny_bundle: Path,
    torch_logits,  # noqa: ANN001
) -> None:
    from acc.profiles import profile_for_speedup

    runtime = Runtime.load(tiny_bundle, device="cpu")
    seen: list[dict[str, np.ndarray]] = []
    real_get = runtime._sessions.get

    def spying_get(path: Path):  # noqa: ANN202
        backend = real_get(path)
        real_infer = backend.infer

        def infer(feeds):  # noqa: ANN001, ANN202
            seen.append(dict(feeds))
            return real_infer(feeds)

        backend.infer = infer  # type: ignore[method-assign]
        return backend

    runtime._sessions.get = spying_get  # type: ignore[method-assign]
    prediction = runtime.predict(TEXTS, speedup=1.7)
    assert prediction.profile == "s1.7" and "adjustable" in prediction.reason
    expected = profile_for_speedup(runtime.manifest.model.shape, 1.7, reference_length=128).keep_ratios
    np.testing.assert_allclose(seen[-1]["keep_ratios"], np.asarray(expected, dtype=np.float32))
    assert seen[-1]["keep_ratios"].dtype == np.float32
    batch = runtime.encoder.encode(TEXTS)
    reference = torch_logits(batch.input_ids, batch.attention_mask, batch.token_type_ids, keep_ratios=expected)
    np.testing.assert_allclose(prediction.logits, reference, atol=1e-5, rtol=0)


def test_unreachable_adhoc_speedup_is_a_policy_error(runtime: Runtime) -> None:
    with pytest.raises(PolicyError, match="adjustable graph cannot run speedup 5.*unreachable"):
        runtime.predict(TEXTS, speedup=5.0)


def test_policy_arguments_reach_the_policy(runtime: Runtime) -> None:
    """The bundle's own measured tables (accuracy on 32 SST-2 dev examples, CPU latency) decide."""
    accuracy = {row.profile: row.accuracy for row in runtime.manifest.tables.accuracy}
    assert sorted(accuracy) == ["dense", "s1.5"]
    # Every profile reaches the lower accuracy, so the fastest one is chosen.
    assert runtime.predict(TEXTS, min_accuracy=min(accuracy.values())).profile == "s1.5"
    most_accurate = "s1.5" if accuracy["s1.5"] > accuracy["dense"] else "dense"  # ties go to less elimination
    assert max(accuracy.values()) < 1.0  # a random model: some accuracy floor is out of reach
    floor = (max(accuracy.values()) + 1.0) / 2
    with pytest.raises(PolicyError, match=f"no profile reaches accuracy {floor:g}"):
        runtime.predict(TEXTS, min_accuracy=floor)
    assert runtime.predict(TEXTS, min_accuracy=floor, best_effort=True).profile == most_accurate
    # A generous budget: the most accurate profile fits.
    assert runtime.predict(TEXTS, latency_budget_ms=1e6).profile == most_accurate
    choice = runtime.choose(latency_budget_ms=1e6, batch=3, seq_len=40)
    assert choice.p99_ms is not None and choice.p99_ms > 0  # interpolated from the measured rows
    with pytest.raises(PolicyError, match="no profile fits latency budget"):
        runtime.predict(TEXTS, latency_budget_ms=1e-6)
    fastest = runtime.predict(TEXTS, latency_budget_ms=1e-6, best_effort=True)
    assert fastest.profile in accuracy and "best effort" in fastest.reason


def test_every_graph_has_a_session_after_load(tiny_bundle: Path) -> None:
    runtime = Runtime.load(tiny_bundle, device="cpu")
    assert sorted(p.name for p in runtime._sessions.cached()) == ["adjustable.onnx", "dense.onnx", "s1.5.onnx"]


def test_sessions_are_created_lazily_and_cached(tiny_bundle: Path) -> None:
    runtime = Runtime.load(tiny_bundle, device="cpu", preload=False)
    assert runtime._sessions.cached() == []
    runtime.predict(TEXTS)
    runtime.predict(TEXTS)
    assert [p.name for p in runtime._sessions.cached()] == ["dense.onnx"]
    runtime.predict(TEXTS, speedup=1.5)
    assert len(runtime._sessions.cached()) == 2
    with runtime:
        pass
    assert runtime._sessions.cached() == []


# -------------------------------------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ("", "text 0 is empty"),
        (["fine", "   "], "text 1 is empty"),
        ([], "no inputs given"),
        ([[101, 102], []], "token-id list 1 is empty"),
        ([101, 2000, 102], "one flat list of ints"),
        ([[101, 10**9, 102]], "outside the vocabulary"),
        ([[101, 2.5, 102]], "non-integers"),
        (["text", [101, 102]], "no mix"),
    ],
)
def test_bad_inputs_are_one_line_data_errors(runtime: Runtime, inputs, message: str) -> None:  # noqa: ANN001
    with pytest.raises(DataError, match=message) as exc:
        runtime.predict(inputs)
    assert "\n" not in str(exc.value) and ";" in str(exc.value)


def test_long_text_is_truncated_by_default_or_refused(runtime: Runtime) -> None:
    text = "word " * 600
    max_length = runtime.manifest.model.max_length
    batch = runtime.encoder.encode([text])
    assert batch.seq_len == max_length and batch.input_ids[0, -1] == runtime.encoder.sep_id
    assert runtime.predict(text).probabilities.shape == (1, 2)
    with pytest.raises(DataError, match=f"text 0 has 602 tokens, more than the model's max_length {max_length}"):
        runtime.predict(text, truncate=False)
    ids = [[101] + [2773] * 600 + [102]]
    assert runtime.encoder.encode(ids).input_ids[0, -1] == 102
    with pytest.raises(DataError, match="token-id list 0 has 602 ids"):
        runtime.predict(ids, truncate=False)


def test_padding_is_dynamic(runtime: Runtime) -> None:
    batch = runtime.encoder.encode(["short", "a slightly longer sentence here"])
    assert batch.seq_len == int(batch.attention_mask.sum(axis=1).max())
    assert batch.input_ids.dtype == np.int64 and (batch.token_type_ids == 0).all()


# -------------------------------------------------------------------------------------------------------- errors


def test_corrupted_graph_with_updated_hash_is_a_bundle_error(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    graph = bundle / "graphs" / "s1.5.onnx"
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    _rehash(bundle, "graphs/s1.5.onnx")
    # The manifest is consistent, but every graph is opened at load (issue #20 item 10): the load fails.
    with pytest.raises(BundleError, match=r"cannot load graph .*s1.5.onnx .*corrupted or incomplete") as exc:
        Runtime.load(bundle, device="cpu")
    assert "\n" not in str(exc.value)
    runtime = Runtime.load(bundle, device="cpu", preload=False)  # opened on first use instead
    assert runtime.predict(TEXTS).profile == "dense"  # other graphs still serve
    with pytest.raises(BundleError, match=r"cannot load graph .*s1.5.onnx .*corrupted or incomplete") as exc:
        runtime.predict(TEXTS, speedup=1.5)
    assert "\n" not in str(exc.value)


def test_corrupted_graph_without_hash_update_fails_at_load(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    graph = bundle / "graphs" / "dense.onnx"
    graph.write_bytes(graph.read_bytes()[:-10])
    with pytest.raises(BundleError, match="graphs/dense.onnx .* bytes, manifest.json says .*truncated"):
        Runtime.load(bundle, device="cpu")
    with pytest.raises(BundleError, match="graphs/dense.onnx .*truncated"):
        Runtime.load(bundle, device="cpu", verify=False)  # sizes are checked even without re-hashing


def test_truncated_shared_weights_are_a_bundle_error(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    weights = bundle / "graphs" / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:1000])
    _rehash(bundle, "graphs/weights.bin")
    with pytest.raises(BundleError, match="cannot load graph .*dense.onnx"):
        Runtime.load(bundle, device="cpu").predict(TEXTS)


def test_missing_tokenizer_json_is_a_bundle_error(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    with pytest.raises(BundleError, match="cannot load tokenizer .*tokenizer.json"):
        TextEncoder(bundle / "nowhere", 512)


def test_cuda_without_onnxruntime_gpu_says_how_to_fix(tiny_bundle: Path) -> None:
    from acc.runtime.session import available_ort_providers

    if "CUDAExecutionProvider" in available_ort_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    with pytest.raises(BackendError, match=r"device='cuda' needs onnxruntime-gpu.*pip install 'acc-deploy\[gpu\]'"):
        OrtBackend(tiny_bundle / "graphs" / "dense.onnx", device="cuda")
    assert Runtime.load(tiny_bundle, device="auto").backend == "ort-cpu"


def test_unknown_device_or_backend(tiny_bundle: Path) -> None:
    with pytest.raises(BackendError, match="unknown device 'tpu'"):
        Runtime.load(tiny_bundle, device="tpu")
    with pytest.raises(BackendError, match="unknown backend 'tensorrt'; pass one of"):
        Runtime.load(tiny_bundle, backend="tensorrt")


def test_missing_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        Runtime.load(tmp_path / "nope")


def test_backend_reports_missing_feeds(tiny_bundle: Path) -> None:
    backend = OrtBackend(tiny_bundle / "graphs" / "dense.onnx", threads=1)
    assert backend.input_names == ("input_ids", "attention_mask", "token_type_ids")
    with pytest.raises(DataError, match=r"graph input\(s\) \['token_type_ids'\] not in feeds"):
        backend.infer({"input_ids": np.ones((1, 3), np.int64), "attention_mask": np.ones((1, 3), np.int64)})
    with pytest.raises(BackendError, match="failed on inputs"):
        backend.infer({name: np.ones((1, 3), np.int32) for name in backend.input_names})  # int32: wrong dtype


# ---------------------------------------------------------------------------------------------------- threading


def test_concurrent_predictions_agree(runtime: Runtime) -> None:
    expected = {speedup: runtime.predict(TEXTS, speedup=speedup).logits for speedup in (1.0, 1.5, 1.7)}
    jobs = [(1.0, 1.5, 1.7)[i % 3] for i in range(24)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda s: (s, runtime.predict(TEXTS, speedup=s)), jobs))
    for speedup, prediction in results:
        np.testing.assert_allclose(prediction.logits, expected[speedup], atol=1e-6)


def test_session_cache_builds_each_graph_once_under_contention() -> None:
    calls: list[Path] = []

    class Fake:
        name, input_names, output_names = "fake", (), ()

    def factory(path: Path) -> Fake:
        calls.append(path)
        return Fake()

    cache = SessionCache(factory)  # type: ignore[arg-type]
    with ThreadPoolExecutor(max_workers=8) as pool:
        backends = list(pool.map(lambda i: cache.get(Path(f"g{i % 2}.onnx")), range(64)))
    assert sorted(p.name for p in calls) == ["g0.onnx", "g1.onnx"]
    assert len({id(b) for b in backends}) == 2


# ------------------------------------------------------------------------------------------------------ imports


def test_importing_the_runtime_imports_neither_torch_nor_onnxruntime() -> None:
    code = (
        "import sys, acc.runtime; "
        "print(sorted(m for m in ('torch', 'onnxruntime', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_loading_and_predicting_never_import_torch(tiny_bundle: Path) -> None:
    code = (
        "import sys; from acc.runtime import Runtime; "
        f"rt = Runtime.load({str(tiny_bundle)!r}, device='cpu'); rt.predict(['fine']); "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_apredict_runs_predict_off_the_event_loop(runtime: Runtime) -> None:
    import asyncio

    async def main() -> list[Prediction]:
        return await asyncio.gather(runtime.apredict(TEXTS), runtime.apredict(TEXTS[0], speedup=1.5))

    batch, single = asyncio.run(main())
    np.testing.assert_allclose(batch.logits, runtime.predict(TEXTS).logits, atol=1e-6)
    assert single.profile == "s1.5" and single.batch_size == 1 and single.queue_ms == 0.0


def test_run_batch_runs_an_encoded_batch_with_a_given_choice(runtime: Runtime) -> None:
    batch = runtime.encoder.encode(TEXTS)
    choice = runtime.choose(speedup=1.5, batch=batch.size, seq_len=batch.seq_len)
    prediction = runtime.run_batch(batch, choice)
    np.testing.assert_allclose(prediction.logits, runtime.predict(TEXTS, speedup=1.5).logits, atol=1e-6)
    assert prediction.profile == "s1.5" and prediction.batch_size == len(TEXTS)
