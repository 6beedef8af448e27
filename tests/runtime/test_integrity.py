"""A bundle cannot lie (issue #20 items 1-3): what the runtime reads is listed, regular, inside the bundle and
verified on the bytes used; the manifest has an identity (digest) and can be signed (model-signing)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from acc.exporter.bundle import file_digest
from acc.profiles import BundleError
from acc.runtime import Runtime, read_manifest

TEXTS = ["a gripping, beautifully shot film", "dull.", "the plot never quite comes together , but the cast is great"]


@pytest.fixture
def bundle(tiny_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))


def _edit(bundle: Path, edit) -> None:
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2))


def _scale_weights(bundle: Path) -> None:
    """Same size, different numbers: every float32 of weights.bin times -3 (what 'scaled after load' did)."""
    path = bundle / "graphs" / "weights.bin"
    values = np.frombuffer(path.read_bytes(), dtype=np.float32) * np.float32(-3)
    path.write_bytes(values.tobytes())


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message and ";" in message
    return message


# --------------------------------------------------------------------------------- item 1: verify what you open


def test_weights_changed_after_load_never_reach_an_answer(bundle: Path) -> None:
    runtime = Runtime.load(bundle, device="cpu")
    before = runtime.predict(TEXTS, speedup=1.5)
    _scale_weights(bundle)
    after = runtime.predict(TEXTS, speedup=1.5)  # sessions hold the verified bytes, not the path
    np.testing.assert_array_equal(before.logits, after.logits)


def test_weights_changed_before_a_lazy_session_is_refused(bundle: Path) -> None:
    runtime = Runtime.load(bundle, device="cpu", preload=False)
    runtime.predict(TEXTS)  # dense only
    _scale_weights(bundle)
    with pytest.raises(BundleError, match=r"graphs/weights.bin in bundle .* has sha256 .*modified after export") as e:
        runtime.predict(TEXTS, speedup=1.5)
    _one_line(e)


# ----------------------------------------------------------------------- item 2: listed, regular, inside only


@pytest.mark.parametrize("relative", ["graphs/weights.bin", "tokenizer/tokenizer.json"])
def test_an_unlisted_file_the_runtime_needs_is_refused(bundle: Path, relative: str) -> None:
    _edit(bundle, lambda data: data["files"].pop(relative))
    with pytest.raises(BundleError, match=f"{relative}.* not list") as exc:
        Runtime.load(bundle, device="cpu")
    _one_line(exc)


def test_a_symlink_out_of_the_bundle_is_refused(bundle: Path, tmp_path: Path) -> None:
    outside = Path(shutil.move(bundle / "graphs", tmp_path / "elsewhere"))
    (bundle / "graphs").symlink_to(outside)
    with pytest.raises(BundleError, match=r"^graphs in bundle .* is a symbolic link") as exc:
        Runtime.load(bundle, device="cpu")
    _one_line(exc)


def test_a_listed_file_linked_to_etc_passwd_is_not_read(bundle: Path) -> None:
    target = bundle / "tokenizer" / "tokenizer.json"
    target.unlink()
    target.symlink_to("/etc/passwd")
    with pytest.raises(BundleError, match="tokenizer/tokenizer.json in bundle .* is a symbolic link") as exc:
        read_manifest(bundle)
    assert "bytes" not in str(exc.value)  # the size of /etc/passwd is not reported


def test_dev_zero_and_a_fifo_are_refused_without_reading(bundle: Path) -> None:
    target = bundle / "tokenizer" / "tokenizer.json"
    target.unlink()
    target.symlink_to("/dev/zero")
    with pytest.raises(BundleError, match="is a symbolic link"):
        Runtime.load(bundle, device="cpu")
    target.unlink()
    os.mkfifo(target)  # opening this for reading without O_NONBLOCK blocks forever
    with pytest.raises(BundleError, match="tokenizer/tokenizer.json in bundle .* is a FIFO, not a regular file"):
        Runtime.load(bundle, device="cpu")


def test_external_data_escaping_the_bundle_is_refused(bundle: Path, tmp_path: Path) -> None:
    import onnx

    graph = bundle / "graphs" / "dense.onnx"
    model = onnx.load(str(graph), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../../outside.bin"
    graph.write_bytes(model.SerializeToString())
    _edit(bundle, lambda data: data["files"].__setitem__("graphs/dense.onnx", file_digest(graph).to_json()))
    with pytest.raises(BundleError, match="graphs/dense.onnx .* keeps tensor .* outside the bundle") as exc:
        Runtime.load(bundle, device="cpu")
    _one_line(exc)


# -------------------------------------------------------------------------- item 3: manifest identity, signing


def test_duplicate_json_keys_are_refused(bundle: Path) -> None:
    path = bundle / "manifest.json"
    text = path.read_text()
    path.write_text('{"model": {"labels": ["positive", "negative"]},' + text.lstrip()[1:])
    with pytest.raises(BundleError, match="has key 'model' twice"):
        read_manifest(bundle)


def test_digest_pins_the_bundle(bundle: Path) -> None:
    digest = read_manifest(bundle).digest
    assert digest.startswith("sha256:") and len(digest) == 7 + 64
    Runtime.load(bundle, device="cpu", digest=digest, preload=False)
    Runtime.load(bundle, device="cpu", digest=digest.removeprefix("sha256:").upper(), preload=False)
    _edit(bundle, lambda data: data["model"].__setitem__("labels", data["model"]["labels"][::-1]))  # swapped labels
    with pytest.raises(BundleError, match=f"has digest sha256:.*, expected {digest}") as exc:
        Runtime.load(bundle, device="cpu", digest=digest)
    _one_line(exc)
    with pytest.raises(BundleError, match="is not a sha256 digest"):
        Runtime.load(bundle, device="cpu", digest="abc")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(private, public, another public) PEM keys on P-256."""
    pytest.importorskip("model_signing")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = tmp_path_factory.mktemp("keys")
    paths = []
    for name in ("signer", "other"):
        key = ec.generate_private_key(ec.SECP256R1())
        private = folder / f"{name}.pem"
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))  # fmt: skip
        public = folder / f"{name}.pub.pem"
        public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
        paths += [private, public]
    return paths[0], paths[1], paths[3]


def test_signed_bundle_verifies_and_a_modified_one_does_not(bundle: Path, keys: tuple[Path, Path, Path]) -> None:
    pytest.importorskip("model_signing")
    from acc.runtime.signing import sign_manifest

    private, public, other = keys
    with pytest.raises(BundleError, match="is not signed .*acc-export --sign-key"):
        Runtime.load(bundle, device="cpu", verify_key=public, preload=False)
    sign_manifest(bundle, private)
    runtime = Runtime.load(bundle, device="cpu", verify_key=public)
    assert runtime.predict(TEXTS).labels
    with pytest.raises(BundleError, match="signature does not verify with .*other.pub.pem") as exc:
        Runtime.load(bundle, device="cpu", verify_key=other, preload=False)
    _one_line(exc)
    _edit(bundle, lambda data: data["model"].__setitem__("labels", data["model"]["labels"][::-1]))
    with pytest.raises(BundleError, match="signature does not verify .*manifest was modified"):
        Runtime.load(bundle, device="cpu", verify_key=public, preload=False)
