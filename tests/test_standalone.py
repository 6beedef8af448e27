"""A clone stands alone: nothing tracked points at a folder beside the checkout (issue #16 §1)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIBLING = "../" + "shared"  # spelled in two parts so this file does not match itself
SIBLING_DATA = "shared" + "/data/sst2"


def test_no_tracked_file_refers_to_a_shared_folder_beside_the_clone() -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode != 0:  # an sdist or wheel without git: check the files that are there
        files = [p for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    else:
        files = [ROOT / name for name in listed.stdout.decode().split("\0") if name]
    offenders = []
    for path in files:
        if path.suffix in {".gz", ".safetensors", ".png", ".onnx", ".bin"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        if SIBLING in text or SIBLING_DATA in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], f"files that refer to a folder beside the clone: {offenders}"
