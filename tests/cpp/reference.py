#!/usr/bin/env python3
"""Write what the Python side computes for a bundle, so the C++ ctest suite can check it is the same.

Run by ctest (the ``reference`` fixture) before the C++ tests, with the interpreter CMake found:
``python reference.py --bundle BUNDLE --out DIR [--data-dir SST2_DIR]``. Writes into DIR (atomically: a temp dir,
then rename; skipped when DIR already holds data for the same bundle, script and package versions):

- ``tokens.json``   Hugging Face ``tokenizers`` ids (the Python runtime's tokenizer) of every SST-2 dev sentence and
                    of tricky strings, untruncated and truncated to 16 tokens;
- ``predict.json``  the Python ``Runtime``'s choice, labels and logits on SST-2 dev for every shipped profile, an
                    ad-hoc speedup on the adjustable graph, the default and a ``min_accuracy`` request, plus one
                    request given as token ids;
- ``policy.json``   ``choose_profile`` on placeholder bundles with rich tables, for a grid of requests and shapes;
- ``profiles.json`` ``profile_for_speedup`` keep ratios for a grid of encoder shapes and speedups;
- ``engines.json``  ``parse_cc`` and ``check_engine_compatible`` (may a prebuilt TensorRT engine run here?);
- ``errors.json``   ``read_manifest`` / ``Runtime`` errors (type and message) of broken bundles and bad requests.

Nothing here imports torch: only the runtime, the profile maths, the bundle writer and ``tokenizers``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from acc.exporter.bundle import new_staging_dir, write_bundle
from acc.modeling.data import load_sst2
from acc.profiles import AccError, EncoderShape, ProfileError, profile_for_speedup
from acc.runtime import AccuracyRow, LatencyRow, ModelCard, ProfileEntry, Runtime, choose_profile, read_manifest

BATCH_SIZE = 64
TRUNCATE_AT = 16
TRICKY = [
    "",
    "   ",
    "Café naïve résumé Ångström Zoë ÉCOLE façade",
    "e\u0301 a\u0308 o\u0302 — decomposed accents",
    'Hello,world!!! (yes) -- "quoted" it\'s $5.00 & 100% #1 @me ~tilde^ `back` {x}[y]<z> a/b\\c | d_e +f =g',
    "’curly’ “quotes” … ¡hola! ¿qué? «guillemets» – en — em",
    "我喜欢这部电影 and 日本語のテキスト",
    "한국어 영화 좋아요",
    "ภาษาไทย مرحبا שלום Москва ΟΔΥΣΣΕΥΣ İstanbul ß ẞ",
    "ＡＢＣ１２３！ ﬁne ligature x² + y₂ = ∞ ≤ ≥ ± €£¥",
    "great movie 😀👍🏽 !!! 🇺🇸",
    "tab\there\nnewline\r\x00null\u200bzero\ufeffbom\u00adsoft\u3000ideographic\u00a0nbsp\u2003em\x7fdel",
    "a" * 100,
    "b" * 101,
    "supercalifragilistic" * 6,
    "xqzjvwk unbelievably untranslatable antidisestablishmentarianism",
    "[CLS] hello [SEP] world [MASK] [PAD] [UNK]",
    "[mask] is not special in lower case, x[SEP]y is",
    "don't can't won't y'all o'clock rock'n'roll",
    " ".join(["a gorgeous, witty, seductive movie ."] * 40),
]
FAKE_SHAPE = EncoderShape(num_layers=6, hidden_size=384, intermediate_size=1536, num_heads=12)
LABELS = ["negative", "positive"]


# ------------------------------------------------------------------------------------------------------ helpers


def _encode_float(value: float | None) -> Any:
    """JSON has no NaN/inf: write them as strings the C++ test reads back."""
    if value is None:
        return None
    return repr(float(value)) if not math.isfinite(value) else float(value)


def _error(exc: BaseException) -> dict[str, str]:
    return {"error": type(exc).__name__, "message": str(exc)}


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=None, separators=(",", ":")), encoding="utf-8")


def _stamp(bundle: Path) -> dict[str, str]:
    """What the reference depends on: the bundle's manifest, this script, the package versions."""
    return {
        "bundle": str(bundle.resolve()),
        "manifest_sha256": hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest(),
        "script_sha256": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "versions": " ".join(f"{p}={metadata.version(p)}" for p in ("acc-deploy", "onnxruntime", "tokenizers")),
    }


# ---------------------------------------------------------------------------------------------------- tokenizer


def tokens(bundle: Path, texts: list[str]) -> dict[str, Any]:
    """HF ids of every text, plain and truncated, as the Python runtime's TextEncoder configures the tokenizer."""
    path = bundle / read_manifest(bundle, verify=False).tokenizer / "tokenizer.json"
    plain = Tokenizer.from_file(str(path))
    plain.no_padding()
    plain.no_truncation()
    cut = Tokenizer.from_file(str(path))
    cut.no_padding()
    cut.enable_truncation(TRUNCATE_AT)
    cases = []
    for text in [*texts, *TRICKY]:
        encoding = plain.encode(text)
        cases.append({"text": text, "ids": encoding.ids, "tokens": encoding.tokens,
                      "truncated": cut.encode(text).ids})  # fmt: skip
    return {"tokenizer": str(path), "truncate_at": TRUNCATE_AT, "cases": cases}


# ------------------------------------------------------------------------------------------------------ predict


def _adhoc_speedup(shipped: list[float]) -> float:
    return next(s for s in (1.25, 1.3, 1.35) if all(abs(s - t) > 1e-6 for t in shipped))


def predict(bundle: Path, texts: list[str]) -> dict[str, Any]:
    """The Python runtime on SST-2 dev, in batches of BATCH_SIZE (the C++ test batches the same way).

    Every graph (each shipped profile, and the adjustable graph at an ad-hoc speedup) runs on all of SST-2 dev;
    requests that only reach a graph another way (the default, ``min_accuracy``) run on the first batch.
    """
    runtime = Runtime.load(bundle, device="cpu")
    manifest = runtime.manifest
    shipped = [entry.target_speedup for entry in manifest.profiles]
    requests: list[dict[str, Any]] = [{"speedup": s} for s in shipped]
    if manifest.adjustable is not None:
        requests.append({"speedup": _adhoc_speedup(shipped)})
    requests.append({})
    if manifest.tables.accuracy:
        requests.append({"min_accuracy": 0.0})
    results = []
    for request in requests:
        count = len(texts) if "speedup" in request else BATCH_SIZE
        labels: list[str] = []
        logits: list[list[float]] = []
        choice = None
        for start in range(0, count, BATCH_SIZE):
            out = runtime.predict(texts[start : min(start + BATCH_SIZE, count)], **request)
            labels += out.labels
            logits += out.logits.tolist()
            choice = out
        assert choice is not None
        adjustable = request.get("speedup") is not None and request["speedup"] not in shipped
        ratios = list(runtime.adhoc.get(request["speedup"]).keep_ratios) if adjustable else None
        results.append({"request": request, "texts": count, "profile": choice.profile, "reason": choice.reason,
                        "keep_ratios": ratios, "labels": labels, "logits": logits})  # fmt: skip
    batch = runtime.encoder.encode(texts[:BATCH_SIZE])
    speedup = shipped[-1] if shipped else 1.0
    by_ids = runtime.predict([list(row[mask == 1]) for row, mask in zip(batch.input_ids, batch.attention_mask)],
                             speedup=speedup)  # fmt: skip
    ids_case = {"input_ids": batch.input_ids.tolist(), "attention_mask": batch.attention_mask.tolist(),
                "request": {"speedup": speedup}, "profile": by_ids.profile, "labels": by_ids.labels,
                "logits": by_ids.logits.tolist()}  # fmt: skip
    return {"bundle": str(bundle), "batch_size": BATCH_SIZE, "texts": texts, "results": results, "ids_case": ids_case}


# ------------------------------------------------------------------------------------------------ fake bundles


def _write_fake(target: Path, tokenizer_json: Path, fields: dict[str, Any]) -> Path:
    """A valid bundle whose graphs are placeholder bytes (enough for manifest, policy and request checks)."""
    staging = new_staging_dir(target)
    (staging / "graphs").mkdir()
    (staging / "tokenizer").mkdir()
    shutil.copyfile(tokenizer_json, staging / "tokenizer" / "tokenizer.json")
    (staging / "graphs" / "weights.bin").write_bytes(bytes(range(256)) * 16)
    graphs = [entry["graph"] for entry in fields.get("profiles", [])]
    if fields.get("adjustable"):
        graphs.append(fields["adjustable"]["graph"])
    for graph in graphs:
        (staging / graph).write_bytes(f"placeholder {graph}".encode())
    model = ModelCard(name="fake", source="tests/cpp", architecture="bert", num_layers=FAKE_SHAPE.num_layers,
                      hidden_size=FAKE_SHAPE.hidden_size, num_heads=FAKE_SHAPE.num_heads,
                      intermediate_size=FAKE_SHAPE.intermediate_size, labels=tuple(LABELS), max_length=512,
                      inputs=("input_ids", "attention_mask", "token_type_ids"))  # fmt: skip
    return write_bundle(staging, target, {"versions": {"opset": 17}, "model": model.to_json(), **fields})


def _entries(speedups: dict[str, float]) -> list[dict[str, Any]]:
    return [ProfileEntry(n, f"graphs/{n}.onnx", profile_for_speedup(FAKE_SHAPE, s, name=n)).to_json()
            for n, s in speedups.items()]  # fmt: skip


def _latency(profile: str, scale: float, backend: str = "ort-cpu", device: str = "Test CPU",
             batches: tuple[int, ...] = (1, 8), seqs: tuple[int, ...] = (32, 128)) -> list[dict[str, Any]]:  # fmt: skip
    return [LatencyRow(profile, backend, device, b, s, p50_ms=0.8 * scale * b * (s / 64) ** 1.2,
                       p99_ms=scale * b * (s / 64) ** 1.2 + 0.5, threads=2).to_json()
            for b in batches for s in seqs]  # fmt: skip


def fake_bundles(root: Path, tokenizer_json: Path) -> dict[str, Path]:
    """Three catalogs that exercise every branch of the policy."""
    full = {"dense": 1.0, "s1.5": 1.5, "s3": 3.0}
    accuracy = [AccuracyRow(n, "sst2-dev", 872, a).to_json() for n, a in zip(full, (0.90, 0.89, 0.86), strict=True)]
    accuracy += [AccuracyRow("s3", "other", 100, 0.95).to_json()]
    latency = _latency("dense", 1.0) + _latency("s1.5", 0.7) + _latency("s3", 0.4)
    latency += _latency("dense", 2.0, device="Other CPU", batches=(4,), seqs=(64,))
    latency += _latency("s3", 0.9, device="Other CPU", batches=(4,), seqs=(64,))
    latency += _latency("dense", 0.1, backend="ort-cuda", device="GPU", batches=(1, 32), seqs=(128, 512))
    latency += _latency("s1.5", 0.5, batches=(1,), seqs=(32,)) + _latency("s1.5", 0.3, batches=(1,), seqs=(32,))
    bundles = {
        "full": _write_fake(root / "full", tokenizer_json, {
            "profiles": _entries(full), "adjustable": {"graph": "graphs/adjustable.onnx", "input": "keep_ratios"},
            "tables": {"accuracy": accuracy, "latency": latency}}),
        "bare": _write_fake(root / "bare", tokenizer_json, {"profiles": _entries({"s3": 3.0, "s1.5": 1.5})}),
        "ties": _write_fake(root / "ties", tokenizer_json, {
            "profiles": _entries({"a": 2.0, "b": 2.0, "c": 2.5, "d": 1.2}),
            "tables": {"accuracy": [AccuracyRow(n, "x", 10, 0.8).to_json() for n in ("a", "b", "c")],
                       "latency": _latency("a", 1.0) + _latency("b", 1.0) + _latency("c", 1.0) + _latency("d", 0.2)}}),
    }  # fmt: skip
    return bundles


# ------------------------------------------------------------------------------------------------------- policy


def policy(bundles: dict[str, Path]) -> dict[str, Any]:
    requests: list[dict[str, Any]] = [{}]
    requests += [{"speedup": s} for s in (1.0, 1.5, 1.5000005, 2.0, 2.5, 3.0, 50.0, 0.5, math.inf, math.nan)]
    requests += [{"speedup": 1.5, "min_accuracy": 0.8}, {"speedup": 1.5, "latency_budget_ms": 5.0}]
    for floor in (0.0, 0.8, 0.85, 0.889, 0.89, 0.9, 0.95, 1.5, -0.1, math.nan):
        requests += [{"min_accuracy": floor}, {"min_accuracy": floor, "best_effort": True}]
    requests += [{"min_accuracy": 0.9, "dataset": "other"}, {"min_accuracy": 0.5, "dataset": "nope"}]
    for budget in (0.1, 1.0, 1.6, 2.5, 4.0, 9.0, 20.0, 1000.0, 0.0, -1.0, math.inf):
        requests += [{"latency_budget_ms": budget}, {"latency_budget_ms": budget, "best_effort": True}]
        requests += [{"latency_budget_ms": budget, "min_accuracy": 0.88},
                     {"latency_budget_ms": budget, "min_accuracy": 0.99, "best_effort": True}]  # fmt: skip
    shapes = [(1, 64), (1, 16), (3, 50), (8, 128), (16, 256), (0, 64), (4, 64)]
    contexts = [("ort-cpu", "Test CPU"), ("ort-cpu", "Other CPU"), ("ort-cpu", "Unknown CPU"), ("ort-cpu", None),
                ("ort-cuda", "GPU"), ("trt", None)]  # fmt: skip
    cases = []
    for name, path in bundles.items():
        manifest = read_manifest(path)
        for request in requests:
            for batch, seq in shapes:
                for backend, device in contexts:
                    timed = "latency_budget_ms" in request
                    if not timed and (
                        (backend, device) != ("ort-cpu", "Test CPU") or (batch, seq) not in (*shapes[:2], (0, 64))
                    ):
                        continue  # only latency requests read the shape, backend and device
                    try:
                        choice = choose_profile(manifest, **request, batch=batch, seq_len=seq, backend=backend,
                                                device=device)  # fmt: skip
                        expect: dict[str, Any] = {
                            "profile": choice.profile, "reason": choice.reason, "adjustable": choice.adjustable,
                            "speedup": choice.speedup, "p99_ms": choice.p99_ms, "accuracy": choice.accuracy}  # fmt: skip
                    except AccError as exc:
                        expect = _error(exc)
                    cases.append({"bundle": name, "request": {k: _encode_float(v) if isinstance(v, float) else v
                                                              for k, v in request.items()},
                                  "batch": batch, "seq": seq, "backend": backend, "device": device,
                                  "expect": expect})  # fmt: skip
    return {"bundles": {name: str(path) for name, path in bundles.items()}, "cases": cases}


def profiles() -> dict[str, Any]:
    shapes = [EncoderShape(6, 384, 1536, 12), EncoderShape(2, 64, 128, 4), EncoderShape(12, 768, 3072, 12),
              EncoderShape(4, 64, 128, 4)]  # fmt: skip
    if "gated_ffn" in EncoderShape.__dataclass_fields__:  # the T5 terms of the FLOPs model
        shapes.append(EncoderShape(4, 32, 64, 4, attention_size=48, gated_ffn=True))
    cases = []
    for shape in shapes:
        for speedup in (1.0, 1.1, 1.25, 1.5, 1.9, 2.0, 3.0, 4.8, 5.5, 8.0, 0.5):
            for reference, min_keep in ((128, 1), (64, 1), (128, 2), (512, 1)):
                try:
                    p = profile_for_speedup(shape, speedup, reference, min_keep)
                    expect: dict[str, Any] = {"name": p.name, "keep_ratios": list(p.keep_ratios), "tilt": p.tilt,
                                              "keep_counts_at_37": p.keep_counts(37)}  # fmt: skip
                except ProfileError as exc:
                    expect = _error(exc)
                cases.append({"shape": [shape.num_layers, shape.hidden_size, shape.intermediate_size, shape.num_heads,
                                        getattr(shape, "attention_size", None) or 0, int(getattr(shape, "gated_ffn", False))],
                              "speedup": speedup, "reference_length": reference, "min_keep": min_keep,
                              "expect": expect})  # fmt: skip
    return {"cases": cases}


def engines() -> dict[str, Any]:
    """``parse_cc`` and ``check_engine_compatible`` (acc.runtime.trt_backend) over records and machines."""
    from acc.runtime import EngineEntry
    from acc.runtime.trt_backend import check_engine_compatible
    from acc.runtime.trt_flavour import parse_cc

    texts = ["9.0", "90", "sm_90", "SM90", "sm89", "8.7", " sm75 ", "9", "sm", "ampere", "10.0", "sm120", "12.1"]
    parsed = []
    for text in texts:
        try:
            parsed.append({"text": text, "cc": parse_cc(text)})
        except AccError as exc:
            parsed.append({"text": text, **_error(exc)})
    records = [EngineEntry("s3", backend, cc, "fp16", f"engines/s3.{backend}.{cc}.fp16.engine", version)
               for backend in ("tensorrt", "tensorrt-rtx") for cc in ("sm90", "9.0", "sm89", "volta")
               for version in ("10.3.0.30", "10.3.1", None, "")]  # fmt: skip
    checks = []
    for record in records:
        for backend, version, cc in (("tensorrt", "10.3.0", "sm90"), ("tensorrt", "10.4.0", "9.0"),
                                     ("tensorrt-rtx", "10.3.0.26", "sm89"), ("tensorrt", "10.3", "sm_89")):  # fmt: skip
            item: dict[str, Any] = {"record": record.__dict__, "backend": backend, "trt_version": version,
                                    "device_cc": cc}  # fmt: skip
            try:
                check_engine_compatible(record, backend=backend, trt_version=version, device_cc=cc)
            except AccError as exc:
                item.update(_error(exc))
            checks.append(item)
    return {"parse_cc": parsed, "checks": checks}


# ------------------------------------------------------------------------------------------------------- errors


def _edit_manifest(bundle: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2))


def errors(root: Path, template: Path) -> dict[str, Any]:
    """Broken copies of a valid placeholder bundle; each records the Python reader's error."""

    def flip_byte(b: Path) -> None:
        graph = b / "graphs" / "s1.5.onnx"
        data = bytearray(graph.read_bytes())
        data[0] ^= 0xFF
        graph.write_bytes(bytes(data))

    def set_field(key: str, value: Any) -> Callable[[Path], None]:
        return lambda b: _edit_manifest(b, lambda d: d.__setitem__(key, value))

    def first_profile(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
        return lambda b: _edit_manifest(b, lambda d: edit(d["profiles"][0]))

    breakages: dict[str, Callable[[Path], None]] = {
        "sha256_mismatch": flip_byte,
        "missing_file": lambda b: (b / "graphs" / "weights.bin").unlink(),
        "size_mismatch": lambda b: (b / "tokenizer" / "tokenizer.json").open("a").write(" "),
        "newer_format_version": lambda b: _edit_manifest(b, lambda d: d.update(format_version=2,
                                                                            versions={"acc": "9.9.9"})),
        "wrong_format": set_field("format", "onnx-bundle"),
        "string_format_version": set_field("format_version", "1"),
        "missing_format_version": lambda b: _edit_manifest(b, lambda d: d.pop("format_version")),
        "not_json": lambda b: (b / "manifest.json").write_text("{not json"),
        "json_list": lambda b: (b / "manifest.json").write_text("[1, 2]"),
        "no_manifest": lambda b: (b / "manifest.json").unlink(),
        "lacks_tables": lambda b: _edit_manifest(b, lambda d: d.pop("tables")),
        "files_not_dict": set_field("files", ["graphs/dense.onnx"]),
        "graph_not_listed": lambda b: _edit_manifest(b, lambda d: d["files"].pop("graphs/s1.5.onnx")),
        "path_outside": first_profile(lambda p: p.__setitem__("graph", "../outside.onnx")),
        "increasing_ratios": first_profile(lambda p: p["profile"].__setitem__("keep_ratios", [1.0, 0.5, 0.6, 0.4, 0.3, 0.2])),
        "first_ratio_not_one": first_profile(lambda p: p["profile"].__setitem__("keep_ratios", [0.9] * 6)),
        "profile_lacks_graph": first_profile(lambda p: p.pop("graph")),
        "model_wrong_type": lambda b: _edit_manifest(b, lambda d: d["model"].__setitem__("num_layers", "six")),
        "model_lacks_labels": lambda b: _edit_manifest(b, lambda d: d["model"].pop("labels")),
        "labels_not_list": lambda b: _edit_manifest(b, lambda d: d["model"].__setitem__("labels", "neg,pos")),
        "duplicate_profile": lambda b: _edit_manifest(b, lambda d: d["profiles"].append(d["profiles"][0])),
        "tokenizer_not_listed": set_field("tokenizer", "tok"),
        "no_profiles": lambda b: _edit_manifest(b, lambda d: d.update(profiles=[], adjustable=None)),
        "latency_row_bad": lambda b: _edit_manifest(b, lambda d: d["tables"]["latency"][0].__setitem__("batch", [1])),
        "engine_not_listed": set_field("engines", [{"profile": "dense", "backend": "tensorrt", "file": "e.plan",
                                                     "compute_capability": "9.0", "precision": "fp16"}]),
    }  # fmt: skip
    cases: list[dict[str, Any]] = []
    for name, breakage in breakages.items():
        bundle = root / name
        shutil.copytree(template, bundle)
        breakage(bundle)
        try:
            read_manifest(bundle)
        except AccError as exc:
            cases.append({"name": name, "bundle": str(bundle), **_error(exc)})
            continue
        raise SystemExit(f"reference.py: breakage {name} did not break the bundle; fix the script")
    for name, path in (("does_not_exist", root / "nowhere"), ("is_a_file", template / "manifest.json")):
        try:
            read_manifest(path)
        except AccError as exc:
            cases.append({"name": name, "bundle": str(path), **_error(exc)})
    requests: list[tuple[str, Any, dict[str, Any]]] = [
        ("placeholder_graph", ["fine"], {"speedup": 1.5}),
        ("unreachable_adhoc_speedup", ["fine"], {"speedup": 50.0}),
        ("speedup_and_floor", ["fine"], {"speedup": 1.5, "min_accuracy": 0.5}),
        ("empty_text", ["fine", "  "], {}),
        ("too_long_untruncated", [" ".join(["word"] * 600)], {"truncate": False}),
        ("ids_outside_vocab", [[101, 99999, 7, 102]], {}),
        ("ids_empty_list", [[101, 102], []], {}),
        ("ids_too_long_untruncated", [[101] + [1000] * 600 + [102]], {"truncate": False}),
    ]
    runtime = Runtime.load(template, device="cpu", preload=False)  # placeholder graphs: sessions fail on first use
    for name, inputs, kwargs in requests:
        try:
            runtime.predict(inputs, **kwargs)
        except AccError as exc:
            cases.append({"name": name, "bundle": str(template), "inputs": inputs, "request": kwargs, **_error(exc)})
            continue
        raise SystemExit(f"reference.py: request {name} did not fail; fix the script")
    return {"cases": cases}


# --------------------------------------------------------------------------------------------------------- main


def write_reference(bundle: Path, out: Path, data_dir: str | None) -> None:
    texts = load_sst2("dev", data_dir).texts
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        tokenizer_json = bundle / read_manifest(bundle).tokenizer / "tokenizer.json"
        _write_json(staging / "tokens.json", tokens(bundle, texts))
        _write_json(staging / "predict.json", predict(bundle, texts))
        final = out.resolve()  # the fake bundles' paths, as the C++ test will see them after the rename
        fakes = fake_bundles(staging / "bundles", tokenizer_json)
        _write_json(staging / "policy.json", _relocate(policy(fakes), staging, final))
        _write_json(staging / "profiles.json", profiles())
        _write_json(staging / "engines.json", engines())
        _write_json(staging / "errors.json", _relocate(errors(staging / "broken", fakes["full"]), staging, final))
        _write_json(staging / "stamp.json", _stamp(bundle))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _relocate(data: Any, staging: Path, final: Path) -> Any:
    """Paths (and messages naming them) as they will read once the staging dir is renamed to ``final``."""
    return json.loads(json.dumps(data).replace(str(staging), str(final)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    if not (args.bundle / "manifest.json").is_file():
        print(f"error: no bundle at {args.bundle}; export one (acc-export --model bert-sst2 --speedups 1.5,3,4.8) or "
              "configure with -DACC_TEST_BUNDLE=<bundle dir>", file=sys.stderr)  # fmt: skip
        return 1
    stamp_path = args.out / "stamp.json"
    if stamp_path.is_file() and json.loads(stamp_path.read_text()) == _stamp(args.bundle):
        print(f"reference data in {args.out} is up to date")
        return 0
    try:
        write_reference(args.bundle, args.out, args.data_dir)
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote reference data for {args.bundle} into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
