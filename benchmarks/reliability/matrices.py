"""In-process attack matrices against ``Runtime``: file tampering, manifest mutations, bad inputs.

Each case ends in one outcome. Safe: ``refused`` (one-line ``AccError``), ``not read`` (the file is never read,
answers identical), ``same answers``. Defects: ``WRONG ANSWERS`` (answers differ from the untouched bundle with no
error), ``CRASH`` (any other exception, or a multi-line error), ``SLOW`` (over the case's time limit).
Copies are hard-linked trees with only the mutated file rewritten, so a 100 MB bundle costs nothing to copy.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from acc.profiles import AccError
from acc.runtime import Runtime, read_manifest

TEXTS = ["a gorgeous, witty, seductive movie .", "flat and boring .", "the plot never quite comes together ."]
TAMPERS = ("flip", "truncate", "delete", "unlist", "symlink", "fifo")
SLOW_S = 60.0


def linked_copy(bundle: Path, target: Path) -> Path:
    """A copy whose files are hard links (rewrite a file with ``_replace`` to break its link)."""
    shutil.copytree(bundle, target, copy_function=os.link)
    return target


def _replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def _answers(bundle: Path, speedups: list[float | None], **load: Any) -> list[tuple[list[str], np.ndarray]]:
    runtime = Runtime.load(bundle, device="cpu", threads=1, **load)
    out = []
    for speedup in speedups:
        prediction = runtime.predict(TEXTS, speedup=speedup) if speedup else runtime.predict(TEXTS)
        out.append((prediction.labels, prediction.logits))
    return out


def _outcome(run: Callable[[], Any], reference: Any, read: bool = True) -> tuple[str, str]:
    start = time.monotonic()
    try:
        answers = run()
    except AccError as exc:
        message = str(exc)
        verdict = "refused" if "\n" not in message else "CRASH"
        return (verdict if time.monotonic() - start < SLOW_S else "SLOW"), message[:160]
    except Exception as exc:  # noqa: BLE001 - any other exception is the defect being counted
        return "CRASH", f"{type(exc).__name__}: {str(exc)[:140]}"
    if time.monotonic() - start > SLOW_S:
        return "SLOW", f"{time.monotonic() - start:.0f} s"
    same = all(a[0] == b[0] and np.allclose(a[1], b[1], atol=1e-5) for a, b in zip(answers, reference))
    if not same:
        return "WRONG ANSWERS", "answered differently without an error"
    return ("same answers" if read else "not read"), ""


def tamper_matrix(bundle: Path, work: Path, speedups: list[float | None]) -> list[dict[str, Any]]:
    """Every listed file and manifest.json × TAMPERS; the runtime loads and answers every profile."""
    reference = _answers(bundle, speedups)
    manifest = read_manifest(bundle)
    files = [*sorted(manifest.files), "manifest.json"]
    rows = []
    for index, relative in enumerate(files):
        for tamper in TAMPERS:
            if relative == "manifest.json" and tamper == "unlist":
                continue
            copy = linked_copy(bundle, work / f"t{index}-{tamper}")
            path = copy / relative
            data = path.read_bytes()
            if tamper == "flip":
                flipped = bytearray(data)
                flipped[len(flipped) // 2] ^= 0x01
                _replace(path, bytes(flipped))
            elif tamper == "truncate":
                _replace(path, data[: len(data) // 2])
            elif tamper == "delete":
                path.unlink()
            elif tamper == "unlist":
                text = json.loads((copy / "manifest.json").read_text())
                del text["files"][relative]
                _replace(copy / "manifest.json", json.dumps(text, indent=2).encode())
                _replace(path, data[: len(data) // 2] or b"x")  # and change it: is it read unverified?
            elif tamper == "symlink":
                outside = work / f"outside-{index}"
                outside.write_bytes(data)
                path.unlink()
                path.symlink_to(outside)
            elif tamper == "fifo":
                path.unlink()
                os.mkfifo(path)
            verdict, detail = _outcome(lambda copy=copy: _answers(copy, speedups), reference,
                                       read=_is_read(relative, manifest))  # fmt: skip
            rows.append({"file": relative, "tamper": tamper, "outcome": verdict, "detail": detail})
            shutil.rmtree(copy)
    return rows


def _is_read(relative: str, manifest: Any) -> bool:
    graphs = {e.graph for e in manifest.profiles} | ({manifest.adjustable.graph} if manifest.adjustable else set())
    return relative in graphs or relative.endswith(("weights.bin", "tokenizer.json")) or relative == "manifest.json"


def _mutations(data: dict[str, Any]) -> dict[str, Callable[[], None]]:
    model, profiles = data["model"], data["profiles"]

    def swap_graphs() -> None:
        profiles[1]["graph"], profiles[-1]["graph"] = profiles[-1]["graph"], profiles[1]["graph"]

    def swap_targets() -> None:
        profiles[1]["profile"], profiles[-1]["profile"] = profiles[-1]["profile"], profiles[1]["profile"]

    return {
        "labels swapped": lambda: model.__setitem__("labels", model["labels"][::-1]),
        "profile graphs swapped": swap_graphs,
        "profile records swapped": swap_targets,
        "max_length 0": lambda: model.__setitem__("max_length", 0),
        "max_length -5": lambda: model.__setitem__("max_length", -5),
        "max_length 1e400": lambda: model.__setitem__("max_length", "@HUGE@"),
        "hidden_size 0": lambda: model.__setitem__("hidden_size", 0),
        "num_heads 7": lambda: model.__setitem__("num_heads", 7),
        "labels empty": lambda: model.__setitem__("labels", []),
        "labels not a list": lambda: model.__setitem__("labels", "negative"),
        "graph path escapes": lambda: profiles[0].__setitem__("graph", "../outside.onnx"),
        "graph is weights.bin": lambda: profiles[0].__setitem__("graph", "graphs/weights.bin"),
        "files not a dict": lambda: data.__setitem__("files", []),
        "nested 100000 deep": lambda: data.__setitem__("validation", "@NEST@"),
        "duplicate key": lambda: None,  # written as text below
        "format_version 99": lambda: data.__setitem__("format_version", 99),
        "sha256 upper case": lambda: next(iter(data["files"].values())).__setitem__("sha256", "A" * 64),
    }


def manifest_matrix(bundle: Path, work: Path, speedups: list[float | None]) -> list[dict[str, Any]]:
    """Each mutation loaded twice: plainly, and pinned to the original digest (how a deployment detects it)."""
    reference = _answers(bundle, speedups)
    digest = read_manifest(bundle).digest
    original = json.loads((bundle / "manifest.json").read_text())
    rows = []
    for index, name in enumerate(_mutations(json.loads(json.dumps(original)))):
        data = json.loads(json.dumps(original))
        _mutations(data)[name]()
        text = json.dumps(data, indent=2).replace('"@HUGE@"', "1e400").replace('"@NEST@"', "[" * 100000 + "]" * 100000)
        if name == "duplicate key":
            text = (
                '{"model": ' + json.dumps({**data["model"], "labels": data["model"]["labels"][::-1]}) + "," + text[1:]
            )
        copy = linked_copy(bundle, work / f"m{index}")
        _replace(copy / "manifest.json", text.encode())
        plain = _outcome(lambda copy=copy: _answers(copy, speedups), reference)
        pinned = _outcome(lambda copy=copy: _answers(copy, speedups, digest=digest), reference)
        rows.append({"mutation": name, "outcome": plain[0], "detail": plain[1], "with_digest": pinned[0]})
        shutil.rmtree(copy)
    return rows


def bad_input_matrix(bundle: Path) -> list[dict[str, Any]]:
    """``Runtime.predict`` with inputs and options a caller gets wrong; each must be one ``AccError`` line."""
    runtime = Runtime.load(bundle, device="cpu", threads=1)
    cases: dict[str, Callable[[], Any]] = {
        "bytes": lambda: runtime.predict(b"terrible film"),
        "[bytes]": lambda: runtime.predict([b"terrible film"]),
        "['ok', None]": lambda: runtime.predict(["ok", None]),
        "int": lambda: runtime.predict(5),
        "dict": lambda: runtime.predict({"text": "x"}),
        "generator": lambda: runtime.predict(t for t in ["a"]),
        "lone surrogate": lambda: runtime.predict(["\ud800"]),
        "empty list": lambda: runtime.predict([]),
        "blank text": lambda: runtime.predict(["  "]),
        "ids out of vocabulary": lambda: runtime.predict([[101, 10**12, 102]]),
        "ids negative": lambda: runtime.predict([[101, -1, 102]]),
        "ids float": lambda: runtime.predict([[101, 2.5, 102]]),
        "mixed texts and ids": lambda: runtime.predict(["a", [101, 102]]),
        "3-D array": lambda: runtime.predict(np.zeros((1, 2, 3), dtype=np.int64)),
        "speedup '3'": lambda: runtime.predict(TEXTS, speedup="3"),
        "speedup True": lambda: runtime.predict(TEXTS, speedup=True),
        "speedup -1": lambda: runtime.predict(TEXTS, speedup=-1.0),
        "speedup nan": lambda: runtime.predict(TEXTS, speedup=float("nan")),
        "speedup inf": lambda: runtime.predict(TEXTS, speedup=float("inf")),
        "speedup 1e300": lambda: runtime.predict(TEXTS, speedup=1e300),
        "min_accuracy 2": lambda: runtime.predict(TEXTS, min_accuracy=2.0),
        "latency_budget_ms -1": lambda: runtime.predict(TEXTS, latency_budget_ms=-1.0),
        "speedup and budget": lambda: runtime.predict(TEXTS, speedup=3.0, latency_budget_ms=5.0),
        "unknown option": lambda: runtime.predict(TEXTS, speed=3.0),
        "truncate='no'": lambda: runtime.predict(TEXTS, truncate="no"),
    }
    rows = []
    for name, call in cases.items():
        try:
            call()
            rows.append({"input": name, "outcome": "ANSWERED", "detail": "no error"})
        except AccError as exc:
            rows.append({"input": name, "outcome": "refused" if "\n" not in str(exc) else "CRASH",
                         "detail": f"{type(exc).__name__}: {str(exc)[:150]}"})  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - counted as the defect
            rows.append({"input": name, "outcome": "CRASH", "detail": f"{type(exc).__name__}: {str(exc)[:150]}"})
    return rows
