"""Every citation of docs/DESIGN.md and docs/METHOD.md names a section heading that exists in that file.

Code and docs cite the design and method notes by anchor (``docs/METHOD.md#3-flops-model``); a renamed heading
would leave those citations pointing nowhere, which no reader would notice until they followed one.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("DESIGN.md", "METHOD.md")
CITATION = re.compile(r"(DESIGN|METHOD)\.md(#[0-9a-z-]+|[^#\w)\]`/]|$)")


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens (code blocks skipped)."""
    out, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def cited_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tracked files are unknown")
    names = [name for name in listed.stdout.decode().split("\0") if name]
    return [ROOT / name for name in names if Path(name).suffix in {".py", ".md", ".cpp", ".hpp", ".sh"}]


def test_each_doc_exists_with_numbered_method_sections() -> None:
    method = anchors((ROOT / "docs" / "METHOD.md").read_text())
    assert {f"{n}-" for n in range(1, 9)} <= {a[:2] for a in method}, sorted(method)
    assert {"bundle", "runtime", "measuring", "acc-checkpoint", "profiles"} <= anchors(
        (ROOT / "docs" / "DESIGN.md").read_text()
    )


def test_every_citation_points_to_a_real_heading() -> None:
    known = {doc: anchors((ROOT / "docs" / doc).read_text()) for doc in DOCS}
    broken = []
    for path in cited_files():
        if (path.parent == ROOT / "docs" and path.name in DOCS) or path == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        for number, line in enumerate(text.splitlines(), 1):
            target_only = re.sub(r"\[[^\]]*\]\(", "(", line)  # a Markdown link's text is not a citation
            for match in CITATION.finditer(target_only):
                anchor = match.group(2)
                if not anchor.startswith("#") or anchor[1:] not in known[f"{match.group(1)}.md"]:
                    broken.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert broken == [], "citations without a real docs/DESIGN.md or docs/METHOD.md heading:\n" + "\n".join(broken)
