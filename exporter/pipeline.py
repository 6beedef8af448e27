"""``main_export``: checkpoint → profiles → ONNX graphs → checks → validation → latency table → bundle, for every
model family through one skeleton; what differs per family (graphs, validation, manifest sections, the options it
honours) is declared by its ``ExportFamily`` class (``families.py``).

The order matters: options a family cannot honour are refused before any work; graphs are checked (onnx.checker,
TokenSelect count) before they are validated, validated before they are timed, and nothing reaches the bundle path
unless every step passed — the staging directory is removed on any failure, so a failed export leaves nothing
behind. With ``--engine trt`` the TensorRT flavour and the GPU are checked before anything is exported, and engines
are built from the final graphs after validation.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from acc.profiles import ExportError, Profile, profile_for_speedup, pruned_layers

from .bundle import check_output_dir, new_staging_dir, write_bundle
from .export import ADJUSTABLE_NAME, KEEP_RATIOS_INPUT, count_token_select
from .family import DENSE_NAME, GRAPHS_DIR, OPSET, BuiltGraph, ExportFamily, progress_bar
from .options import ExportOptions
from .tokenizer_file import save_bundle_tokenizer
from .weights import WEIGHTS_FILE, SharedWeights


def main_export(options: ExportOptions, progress: Callable[[str], None] | None = None) -> Any:
    """Export, validate, time and bundle every profile of ``options.model``; returns its family's result."""
    from .families import family_for_model

    if options.from_bundle is not None:
        raise ExportError("from_bundle converts an existing bundle; call write_triton_repository(bundle, dir) for it")
    say = progress or (lambda message: None)
    family_class = family_for_model(options.model)
    family_class.check_options(options)
    target = _check_targets(options)
    family = family_class(options, say)
    family.prepare()
    say(f"loading {options.model}")
    model = family.load()
    profiles = build_profiles(model.shape, options.speedups, options.reference_length, model.min_keep)

    staging = new_staging_dir(target)
    try:
        graphs = _export(family, profiles, staging / GRAPHS_DIR)
        check_graphs(graphs)
        failures = family.validate(profiles)
        if options.bench:
            family.time(profiles)
        stage_shared_files(staging, [g.path for g in graphs if g.per_profile], family.tokenizer, profiles,
                           options.inline, say, family.max_length)  # fmt: skip
        fields = manifest_fields(options, family, profiles, graphs, failures)
        family.finish(staging, fields)
        say("writing bundle")
        bundle = write_bundle(staging, target, fields, overwrite=options.overwrite, sign_key=options.sign_key)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    triton = None
    if options.triton is not None:  # from the finished bundle, so the repository serves exactly what it holds
        from .triton import write_triton_repository

        triton = write_triton_repository(bundle, options.triton, options.triton_options, overwrite=options.overwrite,
                                         progress=say).path  # fmt: skip
    return family.result(bundle, profiles, failures, triton)


def build_profiles(shape: Any, speedups: tuple[float, ...], reference_length: int, min_keep: int) -> list[Profile]:
    """Dense first, then one offline-tuned profile per requested speedup (duplicates and 1.0 folded into dense)."""
    profiles = [profile_for_speedup(shape, 1.0, reference_length, min_keep, name=DENSE_NAME)]
    for speedup in sorted(set(speedups)):
        if speedup != 1.0:
            profiles.append(profile_for_speedup(shape, speedup, reference_length, min_keep))
    return profiles


def check_graphs(graphs: list[BuiltGraph]) -> None:
    """Every graph passes onnx.checker and holds the TokenSelect nodes its profile prunes at, before validation."""
    import onnx

    for graph in graphs:
        try:
            onnx.checker.check_model(str(graph.path), full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"graph {graph.name} fails onnx.checker: {str(exc).splitlines()[0]}") from exc
        found = count_token_select(onnx.load(str(graph.path), load_external_data=False))
        if found != graph.token_selects:
            raise ExportError(f"graph {graph.name} has {found} TokenSelect nodes, expected {graph.token_selects}; "
                              "file a bug")  # fmt: skip


def stage_shared_files(
    staging: Path,
    inlined: list[Path],
    tokenizer: Any,
    profiles: list[Profile],
    inline: bool,
    say: Callable[[str], None],
    max_length: int,
) -> None:
    """What every family's bundle holds besides graphs: TokenSelect inlined into ``inlined`` if asked, the tokenizer
    (truncating at the manifest's ``max_length``), profile JSONs."""
    if inline:
        say("inlining TokenSelect")
        for path in inlined:
            _inline(path)
    save_bundle_tokenizer(tokenizer, staging, max_length)
    (staging / "profiles").mkdir()
    for profile in profiles:
        profile.save(staging / "profiles" / f"{profile.name}.json")


def manifest_fields(options: ExportOptions, family: ExportFamily, profiles: list[Profile], graphs: list[BuiltGraph],
                    failures: list[str]) -> dict[str, Any]:  # fmt: skip
    """The manifest of every family: the shared sections around the family's own (``ExportFamily.sections``)."""
    from acc.modeling.checkpoint import model_source_id

    return {
        "model": {"name": Path(str(options.model)).name, "source": model_source_id(options.model),
                  **family.model_section()},
        "profiles": [
            {"name": p.name, "graph": f"{GRAPHS_DIR}/{p.name}.onnx", "profile": p.to_dict(),
             "token_select_nodes": 0 if options.inline else len(pruned_layers(p.keep_ratios))}
            for p in profiles
        ],
        "adjustable": ({"graph": f"{GRAPHS_DIR}/{ADJUSTABLE_NAME}.onnx", "input": KEEP_RATIOS_INPUT}
                       if any(g.name == ADJUSTABLE_NAME for g in graphs) else None),
        **family.sections(profiles, failures),
        "graph_format": {"opset": OPSET, "inline": options.inline, "weights": f"{GRAPHS_DIR}/{WEIGHTS_FILE}",
                         **family.graph_format()},
        "allow_mismatch": bool(options.allow_mismatch and failures),
    }  # fmt: skip


def _check_targets(options: ExportOptions) -> Path:
    """The bundle directory, refused before minutes of export if it cannot be written."""
    target = options.bundle_dir()
    if target.exists() and not options.overwrite:
        raise ExportError(f"bundle {target} already exists; pass --overwrite or choose another --output")
    check_output_dir(target)
    if options.triton is not None and Path(options.triton).exists() and not options.overwrite:
        raise ExportError(f"Triton repository {options.triton} already exists; pass --overwrite or another --triton")
    return target


def _export(family: ExportFamily, profiles: list[Profile], graphs_dir: Path) -> list[BuiltGraph]:
    """The family's graphs, their weights moved into one shared file as each is written."""
    graphs_dir.mkdir()
    graphs: list[BuiltGraph] = []
    total = family.graph_count(profiles)
    with (
        SharedWeights(graphs_dir / WEIGHTS_FILE) as weights,
        progress_bar(family.options.progress, total, "export") as bar,
    ):
        for graph in family.export_graphs(profiles, graphs_dir):
            weights.externalize(graph.path)
            graphs.append(graph)
            bar.update(1)
    return graphs


def _inline(path: Path) -> None:
    """Expand the TokenSelect calls in place (external weights stay where they are)."""
    import onnx
    import onnx.inliner

    proto = onnx.load(str(path), load_external_data=False)
    inlined = onnx.inliner.inline_local_functions(proto)
    onnx.save(inlined, str(path))
