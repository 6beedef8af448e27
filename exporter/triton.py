"""A Triton Inference Server model repository from a bundle: one ONNX Runtime model per graph, checked, then renamed.

Layout (``acc-export --triton DIR``, or ``acc-export --from-bundle BUNDLE --triton DIR`` for an existing bundle)::

    DIR/README.md                         which model is which profile, how to call it, what was verified
    DIR/acc_triton.json                   index for clients: model → profile, speedup, keep ratios, accuracy, labels
    DIR/tokenizer.json                    the bundle's tokenizer (Triton loads subdirectories only; files are ignored)
    DIR/bert-sst2_s3/config.pbtxt         platform "onnxruntime_onnx", inputs/outputs read from the graph
    DIR/bert-sst2_s3/labels.txt           label names, so Triton's classification extension can name the class
    DIR/bert-sst2_s3/1/model.onnx         the bundle's graph, output shapes pinned as ONNX Runtime infers them
    DIR/bert-sst2_s3/1/weights.bin        hard link to the bundle's shared weights (a copy across file systems)
    DIR/bert-sst2_tokenizer/, DIR/bert-sst2_text_s3/, ...   texts in: a Python-backend tokenizer and one ensemble
                                          per model (acc.exporter.triton_text)

Why pinned output shapes: Triton compares each configured output's dims *exactly* with the shape its ONNX Runtime
reports, and ONNX Runtime reports inferred sizes (``logits`` ``[batch, 2]``) where the exported graph declares a
symbol (``[batch, Gemmlogits_dim_1]``). Writing the inferred sizes into the copy's declaration makes the graph, the
config and every ONNX Runtime version agree; nodes and weights are untouched.
Why weights in every version folder: Triton's ONNX Runtime backend opens ``<model>/1/model.onnx`` by path, and ONNX
Runtime resolves external data relative to the graph's folder and refuses paths that leave it.
Why the adjustable model has ``max_batch_size: 0``: its ``keep_ratios`` input (``float[num_layers]``) has no batch
axis, and Triton batching needs one on every input; one request is one run there, with its own ratios.
Model names are ``<model>_<profile>`` with characters other than ``[A-Za-z0-9_-]`` replaced by ``_`` (``s1.5`` →
``s1_5``), so they are safe in Triton's URLs and metric labels.

``check_repository`` repeats the checks Triton makes when it loads these models (config parsed strictly against
Triton's own ``model_config.proto``; the onnxruntime backend's input/output name, type and shape rules), so a
repository that would not load is never renamed into place. Triton itself cannot run here (its images come from
NGC); the tests load every ``1/model.onnx`` in ONNX Runtime and compare logits with the bundle's ``Runtime``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from acc.profiles import ExportError

from ._triton_readme import render_readme
from ._triton_schema import parse_model_config
from .bundle import _move_into_place, new_staging_dir
from .flags import flag
from .triton_text import TEXT, check_text_model, is_text_model, write_text_models

if TYPE_CHECKING:
    from acc.runtime.bundle_format import Manifest

PLATFORM = "onnxruntime_onnx"
VERSION = "1"
MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.pbtxt"
LABELS_FILE = "labels.txt"
INDEX_FILE = "acc_triton.json"
INDEX_FORMAT = "acc-triton-repository"
KINDS = {"auto": "KIND_AUTO", "cpu": "KIND_CPU", "gpu": "KIND_GPU"}
# ONNX TensorProto element type → Triton data type (model_config.proto DataType).
TRITON_TYPES = {1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 4: "TYPE_UINT16", 5: "TYPE_INT16", 6: "TYPE_INT32",
                7: "TYPE_INT64", 8: "TYPE_STRING", 9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64",
                12: "TYPE_UINT32", 13: "TYPE_UINT64", 16: "TYPE_BF16"}  # fmt: skip


@dataclass(frozen=True)
class TritonOptions:
    """How Triton serves the generated models. Flags: ``--triton-<field>`` in kebab-case."""

    max_batch: int = field(default=32, metadata=flag("Triton max_batch_size of the fixed-profile models"))
    max_queue_delay_us: int = field(
        default=5000, metadata=flag("Triton dynamic batching: longest wait for a fuller batch, in us")
    )
    kind: str = field(
        default="auto", metadata=flag("Triton instance kind: auto (GPU if present), cpu or gpu", choices=tuple(KINDS))
    )
    count: int = field(default=1, metadata=flag("Triton instances per device"))

    def __post_init__(self) -> None:
        """Bad values fail where the options are made (flags or API), with one line."""
        self.check()

    def check(self) -> TritonOptions:
        if self.max_batch < 1 or self.count < 1 or self.max_queue_delay_us < 0:
            raise ExportError(f"--triton-max-batch and --triton-count must be >= 1 and --triton-max-queue-delay-us "
                              f">= 0, got {self.max_batch}, {self.count} and {self.max_queue_delay_us}")  # fmt: skip
        if self.kind not in KINDS:
            raise ExportError(f"--triton-kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        return self


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, ONNX element type, shape with -1 for every symbolic or unknown dimension."""

    name: str
    elem_type: int
    shape: tuple[int, ...]

    @property
    def triton_type(self) -> str:
        if self.elem_type not in TRITON_TYPES:
            raise ExportError(f"tensor {self.name!r} has ONNX element type {self.elem_type}, which Triton cannot "
                              "serve; export the graph with standard types")  # fmt: skip
        return TRITON_TYPES[self.elem_type]


@dataclass(frozen=True)
class TritonModel:
    """One model of the repository and the bundle graph it serves."""

    name: str
    profile: str  # a shipped profile name, or "adjustable"
    graph: str  # bundle-relative path of the source graph
    max_batch_size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    target_speedup: float | None = None
    keep_ratios: tuple[float, ...] | None = None
    accuracy: float | None = None


@dataclass(frozen=True)
class TritonRepository:
    path: Path
    models: tuple[TritonModel, ...]


def model_name(prefix: str, profile: str) -> str:
    """``<prefix>_<profile>`` with anything outside ``[A-Za-z0-9_-]`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{prefix}_{profile}")


def graph_io(path: Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """(inputs, outputs) declared by the graph (weights are not read); initializers are not inputs."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {tensor.name for tensor in graph.initializer}

    def spec(value: Any) -> TensorSpec:
        tensor = value.type.tensor_type
        shape = tuple(dim.dim_value if dim.HasField("dim_value") else -1 for dim in tensor.shape.dim)
        return TensorSpec(value.name, int(tensor.elem_type), shape)

    inputs = tuple(spec(v) for v in graph.input if v.name not in initializers)
    return inputs, tuple(spec(v) for v in graph.output)


def write_triton_repository(
    bundle: str | os.PathLike[str],
    target: str | os.PathLike[str],
    options: TritonOptions | None = None,
    *,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> TritonRepository:
    """Write the repository of every graph in ``bundle`` (re-hashed first) to ``target``, atomically.

    Staged beside ``target``, checked with :func:`check_repository`, then renamed; on any error nothing is left.
    """
    from acc.runtime.manifest import read_manifest

    options = (options or TritonOptions()).check()
    say = progress or (lambda message: None)
    target = Path(target)
    if target.exists() and not overwrite:
        raise ExportError(f"Triton repository {target} already exists; pass --overwrite or choose another --triton")
    say(f"reading bundle {bundle}")
    manifest = read_manifest(bundle, verify=True)
    staging = new_staging_dir(target)
    try:
        models = tuple(_write_model(manifest, staging, profile, graph, adjustable, options, say)
                       for profile, graph, adjustable in _graphs(manifest))  # fmt: skip
        shutil.copyfile(manifest.path(manifest.tokenizer) / "tokenizer.json", staging / "tokenizer.json")
        say("writing the tokenizer model and the text ensembles")
        text_models = write_text_models(manifest, staging, models, options, _pad_id(manifest))
        _write_text(staging / INDEX_FILE, json.dumps(_index(manifest, models, text_models), indent=2) + "\n")
        _write_text(staging / "README.md", render_readme(manifest, models, options))
        say("checking the repository")
        check_repository(staging)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return TritonRepository(target, models)


def _pad_id(manifest: Manifest) -> int:
    from acc.runtime.inputs import TextEncoder

    return TextEncoder(manifest.path(manifest.tokenizer), manifest.model.max_length).pad_id


def _graphs(manifest: Manifest) -> list[tuple[str, str, bool]]:
    """(profile, bundle-relative graph, adjustable) per model; refuses two profiles that map to one model name."""
    graphs = [(entry.name, entry.graph, False) for entry in manifest.profiles]
    if manifest.adjustable is not None:
        graphs.append(("adjustable", manifest.adjustable.graph, True))
    names = [model_name(manifest.model.name, profile) for profile, _, _ in graphs]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise ExportError(f"profiles {[g[0] for g in graphs]} give the same Triton model name(s) {clashes}; rename "
                          "a profile (names differ only in characters outside [A-Za-z0-9_-])")  # fmt: skip
    return graphs


def _write_model(manifest: Manifest, root: Path, profile: str, graph: str, adjustable: bool, options: TritonOptions,
                 say: Callable[[str], None]) -> TritonModel:  # fmt: skip
    from acc.runtime.policy import accuracy_by_profile

    name = model_name(manifest.model.name, profile)
    say(f"writing Triton model {name}")
    source = manifest.path(graph)
    version = root / name / VERSION
    version.mkdir(parents=True)
    pin_output_shapes(source, version / MODEL_FILE)
    for location in sorted(external_locations(source)):
        _link_or_copy(source.parent / location, version / location)
    inputs, outputs = graph_io(version / MODEL_FILE)  # the pinned copy: what Triton will compare
    entry = None if adjustable else manifest.profile(profile)
    _, accuracy = accuracy_by_profile(manifest.tables)  # one data set for every profile
    model = TritonModel(
        name=name, profile=profile, graph=graph, max_batch_size=0 if adjustable else options.max_batch,
        inputs=inputs, outputs=outputs, target_speedup=None if entry is None else entry.target_speedup,
        keep_ratios=None if entry is None else tuple(entry.profile.keep_ratios), accuracy=accuracy.get(profile),
    )  # fmt: skip
    _write_text(root / name / LABELS_FILE, "".join(f"{label}\n" for label in manifest.model.labels))
    _write_text(root / name / CONFIG_FILE, config_text(model, options, manifest.model.name))
    return model


def pin_output_shapes(source: Path, destination: Path) -> None:
    """Copy the graph (weights stay external), declaring each output axis ONNX Runtime infers a size for.

    Before: logits [batch, Gemmlogits_dim_1]   After: logits [batch, 2]   (kept_index_* [batch, kept_2] unchanged)
    """
    import onnx
    import onnxruntime as ort

    from acc.runtime.ort_session import create_session

    session_options = ort.SessionOptions()
    session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = create_session(source, device="cpu", options=session_options)
    inferred = {arg.name: arg.shape for arg in session.get_outputs()}
    proto = onnx.load(str(source), load_external_data=False)
    for value in proto.graph.output:
        for dim, size in zip(value.type.tensor_type.shape.dim, inferred.get(value.name) or []):
            if isinstance(size, int) and not dim.HasField("dim_value"):
                dim.dim_value = size  # replaces the symbolic dim_param (a oneof)
    onnx.save(proto, str(destination))


def external_locations(graph: Path) -> set[str]:
    """Relative paths of the external-data files the graph's initializers point at (checked to stay in its folder)."""
    import onnx

    proto = onnx.load(str(graph), load_external_data=False)
    locations = {entry.value for tensor in proto.graph.initializer for entry in tensor.external_data
                 if entry.key == "location"}  # fmt: skip
    for location in locations:
        path = PurePosixPath(location)
        if path.is_absolute() or ".." in path.parts:
            raise ExportError(f"graph {graph.name} points at external data {location!r} outside its folder; "
                              "re-export the bundle")  # fmt: skip
    return locations


def _link_or_copy(source: Path, destination: Path) -> None:
    """A hard link (no extra disk) where the file system allows it, else a copy."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)


def config_text(model: TritonModel, options: TritonOptions, bundle_model: str) -> str:
    """``config.pbtxt`` in protobuf text format. With batching, ``dims`` omit the batch axis (Triton adds it)."""
    batched = model.max_batch_size > 0
    what = "adjustable graph (keep_ratios input)" if model.target_speedup is None else (
        f"profile {model.profile}, target speedup {model.target_speedup:g}x")  # fmt: skip
    lines = [f"# {bundle_model}: {what}. Generated by acc-export --triton; see ../README.md.",
             f'name: "{model.name}"', f'platform: "{PLATFORM}"', f"max_batch_size: {model.max_batch_size}"]  # fmt: skip

    def tensors(key: str, specs: Sequence[TensorSpec]) -> None:
        lines.append(f"{key} [")
        for i, spec in enumerate(specs):
            dims = spec.shape[1:] if batched else spec.shape
            lines.extend(["  {", f'    name: "{spec.name}"', f"    data_type: {spec.triton_type}",
                          f"    dims: [ {', '.join(str(d) for d in dims)} ]"])  # fmt: skip
            if key == "output" and spec.name == "logits":
                lines.append(f'    label_filename: "{LABELS_FILE}"')
            lines.append("  }" + ("," if i < len(specs) - 1 else ""))
        lines.append("]")

    tensors("input", model.inputs)
    tensors("output", model.outputs)
    lines += ["instance_group [", "  {", f"    count: {options.count}", f"    kind: {KINDS[options.kind]}", "  }", "]"]
    if batched:
        lines += ["dynamic_batching {", f"  max_queue_delay_microseconds: {options.max_queue_delay_us}", "}"]
    return "\n".join(lines) + "\n"


def _index(manifest: Manifest, models: Sequence[TritonModel], text_models: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "format": INDEX_FORMAT,
        "format_version": 1,
        "bundle": {"model": manifest.model.name, "created_utc": manifest.created_utc, "path": str(manifest.bundle_dir)},
        "labels": list(manifest.model.labels),
        "max_length": manifest.model.max_length,
        "tokenizer": "tokenizer.json",
        "adjustable_input": None if manifest.adjustable is None else manifest.adjustable.input,
        "models": [
            {**asdict(m), "inputs": [asdict(t) for t in m.inputs], "outputs": [asdict(t) for t in m.outputs]}
            for m in models
        ],
        "text": {
            "input": TEXT,
            "tokenizer": text_models[0] if text_models else None,
            "ensembles": dict(zip((m.profile for m in models), text_models[1:])),
        },
    }


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------------------- checking


def check_repository(path: str | os.PathLike[str]) -> list[str]:
    """Check every model folder as Triton would load it; returns the model names, or raises one ``ExportError``
    listing every problem (parse errors, missing files, name/type/shape mismatches against the graph)."""
    root = Path(path)
    problems: list[str] = []
    names = sorted(child.name for child in root.iterdir() if child.is_dir()) if root.is_dir() else []
    if not names:
        raise ExportError(f"{root} holds no model folders; write it with acc-export --triton")
    for name in names:
        try:
            problems += _check_model(root / name)
        except ExportError as exc:
            problems.append(str(exc))
    if problems:
        raise ExportError(f"Triton repository {root} would not load: " + "; ".join(problems))
    return names


def _check_model(folder: Path) -> list[str]:
    if is_text_model(folder):  # the tokenizer (Python backend) and the ensembles: acc.exporter.triton_text
        return check_text_model(folder)
    name = folder.name
    config_path, graph = folder / CONFIG_FILE, folder / VERSION / MODEL_FILE
    if not config_path.is_file() or not graph.is_file():
        return [f"{name}: needs {CONFIG_FILE} and {VERSION}/{MODEL_FILE}"]
    config = parse_model_config(config_path.read_text(encoding="utf-8"), f"{name}/{CONFIG_FILE}")
    problems = []
    if config.name != name or config.platform != PLATFORM:
        problems.append(f"{name}: config names model {config.name!r} on platform {config.platform!r}, expected "
                        f"{name!r} on {PLATFORM!r}")  # fmt: skip
    if config.max_batch_size < 0 or (config.HasField("dynamic_batching") and config.max_batch_size == 0):
        problems.append(f"{name}: dynamic_batching needs max_batch_size > 0, got {config.max_batch_size}")
    problems += _check_external_data(name, graph)
    inputs, outputs = graph_io(graph)
    graph_inputs, graph_outputs = {t.name: t for t in inputs}, {t.name: t for t in outputs}
    if len(config.input) != len(inputs):
        problems.append(f"{name}: config lists {len(config.input)} inputs, the graph takes {len(inputs)} "
                        f"({', '.join(graph_inputs)})")  # fmt: skip
    for kind, declared, actual, exact in (("input", config.input, graph_inputs, False),
                                          ("output", config.output, graph_outputs, True)):  # fmt: skip
        for item in declared:
            spec = actual.get(item.name)
            if spec is None:
                problems.append(f"{name}: {kind} {item.name!r} is not in the graph ({', '.join(actual)})")
                continue
            dtype = _enum_name(config, item.data_type)
            if dtype != spec.triton_type:
                problems.append(f"{name}: {kind} {item.name!r} is {dtype} in the config, {spec.triton_type} in "
                                "the graph")  # fmt: skip
            problem = dims_problem(spec.shape, tuple(item.dims), config.max_batch_size, exact)
            if problem:
                problems.append(f"{name}: {kind} {item.name!r}: {problem}")
            if kind == "output" and item.label_filename and not (folder / item.label_filename).is_file():
                problems.append(f"{name}: label file {item.label_filename} is missing")
    return problems


def _enum_name(config: Any, value: int) -> str:
    return config.DESCRIPTOR.file.enum_types_by_name["DataType"].values_by_number[value].name


def dims_problem(model_shape: tuple[int, ...], dims: tuple[int, ...], max_batch_size: int, exact: bool) -> str | None:
    """Triton onnxruntime backend's rule (CompareDimsSupported): with batching the graph's first axis must be -1 and
    the config's dims match the rest; -1 in the graph matches any config value for inputs, only -1 for outputs."""
    full = dims
    if max_batch_size > 0:
        if not model_shape or model_shape[0] != -1:
            return f"batching needs a dynamic first axis, the graph has shape {list(model_shape)}"
        full = (-1, *dims)
    same = len(model_shape) == len(full) and all(m == d for m, d in zip(model_shape, full) if exact or m != -1)
    return None if same else f"graph shape {list(model_shape)} does not match config dims {list(dims)}" + (
        " after the batch axis" if max_batch_size > 0 else "")  # fmt: skip


def _check_external_data(name: str, graph: Path) -> list[str]:
    """Every external tensor's file is in the version folder and long enough for its offset + length."""
    import onnx

    problems = []
    proto = onnx.load(str(graph), load_external_data=False)
    for tensor in proto.graph.initializer:
        info = {entry.key: entry.value for entry in tensor.external_data}
        if "location" not in info:
            continue
        location = PurePosixPath(info["location"])
        if location.is_absolute() or ".." in location.parts:
            problems.append(f"{name}: tensor {tensor.name!r} points outside {VERSION}/ ({location})")
            continue
        file = graph.parent / location
        end = int(info.get("offset", 0)) + int(info.get("length", 0))
        if not file.is_file() or file.stat().st_size < end:
            problems.append(f"{name}: external data {VERSION}/{location} is missing or shorter than {end} bytes")
            break
    return problems
