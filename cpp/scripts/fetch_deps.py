#!/usr/bin/env python3
"""Fetch the C++ build's header-only dependencies from Debian's archive into a cache directory.

Why Debian packages: the ONNX Runtime library is already on every machine that has the Python package (the pip
wheel ships ``capi/libonnxruntime.so``) but without headers, and its C API is ABI-stable, so the headers of any
older release work against it. Debian packages ``libonnxruntime-dev`` (trixie) and ``nlohmann-json3-dev``: a signed,
versioned, public source that needs no root, no apt and no network access beyond deb.debian.org. Each ``.deb`` is
checked against a pinned sha256 (or, once Debian replaced the pinned build, the sha256 in the suite's package
index) and only its ``usr/include`` is unpacked, with Python's own ``tarfile`` (no dpkg needed).

Usage: ``python3 fetch_deps.py DEST`` → ``DEST/onnxruntime/include/onnxruntime_cxx_api.h`` and
``DEST/nlohmann_json/include/nlohmann/json.hpp``; prints nothing when both are already there.
``ACC_DEBIAN_MIRROR`` overrides the mirror (default https://deb.debian.org/debian).
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import platform
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MIRROR = os.environ.get("ACC_DEBIAN_MIRROR", "https://deb.debian.org/debian").rstrip("/")
TIMEOUT_S = 60


@dataclass(frozen=True)
class Package:
    """One Debian package: where its headers go, the file that proves they are there, and a pinned build."""

    name: str  # cache sub-directory
    package: str  # Debian package name
    suite: str
    arch_dependent: bool
    marker: str  # relative to <dest>/<name>/include
    pinned_file: str  # pool path of the pinned build (amd64 for arch-dependent packages)
    pinned_sha256: str
    strip: str  # prefix of the data member paths that becomes <dest>/<name>/include


PACKAGES = (
    Package(
        name="onnxruntime",
        package="libonnxruntime-dev",
        suite="trixie",
        arch_dependent=True,
        marker="onnxruntime_cxx_api.h",
        pinned_file="pool/main/o/onnxruntime/libonnxruntime-dev_1.21.0+dfsg-1_amd64.deb",
        pinned_sha256="14f7d959d5deacbcf1504830d4189f91fc67382b399ed9ae9d3aa9c4050ced08",
        strip="usr/include/onnxruntime/",
    ),
    Package(
        name="nlohmann_json",
        package="nlohmann-json3-dev",
        suite="bookworm",
        arch_dependent=False,
        marker="nlohmann/json.hpp",
        pinned_file="pool/main/n/nlohmann-json3/nlohmann-json3-dev_3.11.2-2_all.deb",
        pinned_sha256="ec57940def6b6186c30be0e0ee81d1e58f86d11a54a145b28686a1e3e4aae801",
        strip="usr/include/",
    ),
)


class FetchError(Exception):
    """A download or unpack that failed; the message says what to do instead."""


def debian_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def fetch(dest: Path) -> list[str]:
    """Make sure every package's headers are under ``dest``; returns the names fetched now."""
    fetched = []
    for package in PACKAGES:
        target = dest / package.name
        if (target / "include" / package.marker).is_file():
            continue
        deb = _download_deb(package)
        _unpack_headers(deb, package, target)
        fetched.append(package.name)
    return fetched


def _download_deb(package: Package) -> bytes:
    arch = debian_arch()
    pinned = package.pinned_file
    if package.arch_dependent:
        pinned = pinned.replace("_amd64.deb", f"_{arch}.deb")
    if not package.arch_dependent or arch == "amd64":
        try:
            return _get_verified(f"{MIRROR}/{pinned}", package.pinned_sha256, package)
        except FetchError as exc:
            if "HTTP Error 404" not in str(exc):
                raise
    filename, sha256 = _lookup_in_index(package, arch)
    return _get_verified(f"{MIRROR}/{filename}", sha256, package)


def _get(url: str, package: Package) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(
            f"cannot download {url} for {package.package} ({exc}); this build needs deb.debian.org (or set "
            "ACC_DEBIAN_MIRROR to a Debian mirror), or pass -DONNXRUNTIME_ROOT=<ONNX Runtime SDK> and install "
            "nlohmann-json3-dev"
        ) from exc


def _get_verified(url: str, sha256: str, package: Package) -> bytes:
    data = _get(url, package)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise FetchError(f"{url} has sha256 {actual[:12]}…, expected {sha256[:12]}… (corrupted download); run again")
    return data


def _lookup_in_index(package: Package, arch: str) -> tuple[str, str]:
    """(pool path, sha256) of ``package`` in its suite's ``Packages.xz`` (the pinned build is gone or another arch)."""
    index_arch = arch if package.arch_dependent else "amd64"
    url = f"{MIRROR}/dists/{package.suite}/main/binary-{index_arch}/Packages.xz"
    text = lzma.decompress(_get(url, package)).decode("utf-8", "replace")
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(" "))
        if fields.get("Package") == package.package and "Filename" in fields and "SHA256" in fields:
            return fields["Filename"], fields["SHA256"]
    raise FetchError(f"{package.package} is not in Debian {package.suite} for {index_arch} ({url}); pass "
                     "-DONNXRUNTIME_ROOT=<ONNX Runtime SDK> and install nlohmann-json3-dev instead")  # fmt: skip


def _ar_members(data: bytes) -> dict[str, bytes]:
    """Members of a Unix ``ar`` archive (the container of a .deb)."""
    if not data.startswith(b"!<arch>\n"):
        raise FetchError("downloaded file is not a .deb (no ar header); run again")
    members, offset = {}, 8
    while offset + 60 <= len(data):
        header = data[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        members[name] = data[offset + 60 : offset + 60 + size]
        offset += 60 + size + (size % 2)
    return members


def _unpack_headers(deb: bytes, package: Package, target: Path) -> None:
    """Unpack ``usr/include/...`` of the .deb into ``target/include`` (temp dir, then rename: atomic)."""
    members = _ar_members(deb)
    data_name = next((name for name in members if name.startswith("data.tar")), None)
    if data_name is None or data_name.endswith(".zst"):
        raise FetchError(f"{package.package}: unsupported .deb payload {data_name!r}; install the package with apt")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{package.name}-", dir=target.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(members[data_name])) as archive:
            for member in archive.getmembers():
                path = member.name.removeprefix("./")
                if not path.startswith(package.strip) or not member.isfile():
                    continue
                relative = Path(path[len(package.strip) :])
                if relative.is_absolute() or ".." in relative.parts:
                    raise FetchError(f"{package.package}: unsafe path {member.name!r} in the .deb; not unpacked")
                out = staging / "include" / relative
                out.parent.mkdir(parents=True, exist_ok=True)
                with archive.extractfile(member) as source, open(out, "wb") as sink:  # type: ignore[union-attr]
                    shutil.copyfileobj(source, sink)
        if not (staging / "include" / package.marker).is_file():
            raise FetchError(f"{package.package} has no {package.marker} under {package.strip}; pin another build")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: fetch_deps.py DEST", file=sys.stderr)
        return 2
    try:
        fetched = fetch(Path(argv[0]))
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name in fetched:
        print(f"fetched {name} headers into {Path(argv[0]) / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
