"""Sign a bundle and verify its signature with the OpenSSF ``model-signing`` library (key-based, offline).

What is signed is ``manifest.json`` alone: it records the sha256 and size of every file the runtime reads, and
the runtime checks each file against it on the bytes it uses, so a valid signature over the manifest covers the
bundle. The signature (a Sigstore bundle, ``manifest.json.sig``) lives beside the manifest and is not listed in
it (it cannot sign itself). Verification runs on a private copy of the exact manifest bytes this runtime parsed,
so the file on disk cannot be swapped between the check and the use. Needs ``pip install 'acc-deploy[sign]'``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from acc.profiles import BundleError

from .bundle_format import Manifest
from .integrity import MANIFEST_NAME, open_inside, read_manifest_bytes
from .manifest import bundle_digest

SIGNATURE_NAME = MANIFEST_NAME + ".sig"
SIGN_EXTRA = "pip install 'acc-deploy[sign]'"
_MAX_SIGNATURE_BYTES = 1 << 20


def _model_signing():
    try:
        import model_signing
    except ImportError as exc:
        raise BundleError(f"signing needs the model-signing package ({exc.name} is missing); {SIGN_EXTRA}") from None
    return model_signing


def sign_manifest(bundle_dir: str | os.PathLike[str], private_key: str | os.PathLike[str],
                  password: str | None = None) -> Path:  # fmt: skip
    """Write ``bundle_dir/manifest.json.sig``: an elliptic-curve signature (PEM private key) over the manifest."""
    model_signing = _model_signing()
    root = Path(bundle_dir)
    key = Path(private_key)
    if not key.is_file():
        raise BundleError(f"signing key {key} does not exist; pass a PEM elliptic-curve private key "
                          "(openssl ecparam -name prime256v1 -genkey -noout -out key.pem)")  # fmt: skip
    signature = root / SIGNATURE_NAME
    try:
        config = model_signing.signing.Config().use_elliptic_key_signer(private_key=key, password=password)
        config.sign(root / MANIFEST_NAME, signature)
    except Exception as exc:  # noqa: BLE001 - ValueError, TypeError or cryptography errors for unusable keys
        signature.unlink(missing_ok=True)
        raise BundleError(f"cannot sign with {key} ({_line(exc)}); pass an unencrypted PEM elliptic-curve private "
                          "key (P-256/P-384/P-521)") from None  # fmt: skip
    return signature


def verify_signature(manifest: Manifest, public_key: str | os.PathLike[str]) -> None:
    """The bundle's ``manifest.json.sig`` must be a valid signature by ``public_key`` (PEM) over the manifest bytes
    that produced ``manifest`` (same digest); one ``BundleError`` line otherwise."""
    model_signing = _model_signing()
    root = manifest.bundle_dir
    key = Path(public_key)
    if not key.is_file():
        raise BundleError(f"verify key {key} does not exist; pass the PEM public key of the bundle's signer")
    raw = read_manifest_bytes(root)
    if bundle_digest(raw) != manifest.digest:
        raise BundleError(f"{root / MANIFEST_NAME} changed while the bundle was loaded; load it again")
    fd = open_inside(root, SIGNATURE_NAME, missing=f"bundle {root} is not signed (no {SIGNATURE_NAME}); sign it with "
                     "acc-export --sign-key KEY, or load it without verify_key")  # fmt: skip
    try:
        signature = os.read(fd, _MAX_SIGNATURE_BYTES + 1)
    finally:
        os.close(fd)
    if len(signature) > _MAX_SIGNATURE_BYTES:
        raise BundleError(f"{root / SIGNATURE_NAME} is larger than {_MAX_SIGNATURE_BYTES} bytes; sign the bundle again")
    with tempfile.TemporaryDirectory(prefix="acc-verify-") as private:
        copy = Path(private) / MANIFEST_NAME
        copy.write_bytes(raw)
        (Path(private) / SIGNATURE_NAME).write_bytes(signature)
        try:
            config = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=key)
            config.verify(copy, Path(private) / SIGNATURE_NAME)
        except Exception as exc:  # noqa: BLE001 - ValueError on a mismatch; others for a malformed signature/key
            raise BundleError(
                f"bundle {root} signature does not verify with {key} ({_line(exc)}); the manifest was "
                "modified or signed by another key: get the bundle from its publisher again"
            ) from None


def _line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
