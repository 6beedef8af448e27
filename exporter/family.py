"""``ExportFamily``: what one model family declares to the export pipeline, and the steps it fills in.

Like optimum's ``OnnxConfig`` classes, a family class declares the graphs it exports (one per profile, the
adjustable graph, plus its ``step_graphs`` such as a decode step; their inputs, outputs and dynamic axes live in
the family's export module), how they are validated and with which tolerances, its manifest sections and which
acc-export options it honours. ``pipeline.main_export`` runs one skeleton for every family — check options → load →
export graphs → check graphs → validate → time → stage → write — and calls these methods in that order on one
instance per export, which keeps what the steps produce (graphs, reports, timings) for the later ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from acc.profiles import ExportError, Profile

from .flags import changed_flags

if TYPE_CHECKING:
    from .options import ExportOptions

DENSE_NAME = "dense"
GRAPHS_DIR = "graphs"
OPSET = 18


@dataclass(frozen=True)
class BuiltGraph:
    """One exported graph file as the pipeline checks it (onnx.checker, TokenSelect count) and stages it."""

    name: str
    path: Path
    token_selects: int  # TokenSelect nodes the graph must hold
    per_profile: bool = True  # a profile's or the adjustable graph (inlined with --inline); False: a step graph


class ExportFamily:
    """Base of the per-family export classes; subclasses fill in the declarations and the steps."""

    name: ClassVar[str]  # the checkpoint family (acc.modeling.checkpoint: ENCODER_CLASSIFIER, CAUSAL_LM, SEQ2SEQ)
    label: ClassVar[str]  # how errors name the family, e.g. "gpt2 (causal)"
    unsupported: ClassVar[tuple[str, ...]] = ()  # ExportOptions fields the family cannot honour
    step_graphs: ClassVar[tuple[str, ...]] = ()  # graphs exported once besides the per-profile ones
    # Token inputs of the per-profile graphs and their dynamic axes; encoders read theirs off the architecture
    # (``config.config_for``: no token_type_ids for RoBERTa, DistilBERT, MPNet).
    inputs: ClassVar[dict[str, dict[int, str]]] = {}

    tokenizer: Any  # set by load: saved into the bundle
    max_length: int  # set by load: the bundle's token limit (manifest, tokenizer.json)

    def __init__(self, options: ExportOptions, say: Callable[[str], None]) -> None:
        self.options = options
        self.say = say

    @classmethod
    def check_options(cls, options: ExportOptions) -> None:
        """Refuse, in one line and before any work, an option this family would otherwise have to ignore."""
        changed = changed_flags(options, cls.unsupported)
        if changed:
            flag, setting = changed[0]
            raise ExportError(f"{setting} is not supported for {cls.label} models; drop {flag}")

    def prepare(self) -> None:
        """Checks that need no model (a toolkit, a GPU), so they fail before minutes of export. Default: none."""

    def load(self) -> Any:
        """Load the checkpoint; returns the ACC model (its ``shape`` and ``min_keep`` make the profiles)."""
        raise NotImplementedError

    def graph_count(self, profiles: list[Profile]) -> int:
        return len(profiles) + int(self.options.adjustable) + len(self.step_graphs)

    def export_graphs(self, profiles: list[Profile], graphs_dir: Path) -> Iterator[BuiltGraph]:
        """Write each graph into ``graphs_dir``, yielding it once its file is complete (the pipeline then moves
        its weights into the shared file)."""
        raise NotImplementedError

    def validate(self, profiles: list[Profile]) -> list[str]:
        """Compare the graphs with PyTorch; returns the tolerance failures (raises unless --allow-mismatch)."""
        raise NotImplementedError

    def time(self, profiles: list[Profile]) -> None:
        """Measure the CPU latency table (skipped with --no-bench)."""
        raise NotImplementedError

    def model_section(self) -> dict[str, Any]:
        """The manifest's ``model`` entries after ``name`` and ``source``."""
        raise NotImplementedError

    def sections(self, profiles: list[Profile], failures: list[str]) -> dict[str, Any]:
        """The family's own top-level manifest sections (``tables``, ``validation``, a decode step, ...)."""
        raise NotImplementedError

    def graph_format(self) -> dict[str, Any]:
        """Entries the family adds to the manifest's ``graph_format``. Default: none."""
        return {}

    def finish(self, staging: Path, fields: dict[str, Any]) -> None:
        """Last additions to the staged bundle and its manifest fields before it is written. Default: none."""

    def result(self, bundle: Path, profiles: list[Profile], failures: list[str], triton: Path | None) -> Any:
        """What ``main_export`` returns: the bundle and the family's summary rows."""
        raise NotImplementedError

    @staticmethod
    def render_summary(result: Any) -> Any:
        """The table acc-export prints for ``result``."""
        raise NotImplementedError


def profiles_of(name: str, adjustable: bool, profiles: list[Profile]) -> list[Profile]:
    """The profiles a graph is validated and timed at: its own, or for the adjustable graph every pruned profile
    (dense when only dense was asked for)."""
    if adjustable:
        return [p for p in profiles if p.name != DENSE_NAME] or profiles
    return [p for p in profiles if p.name == name]


def ort_session(path: Path, threads: int | None) -> Any:
    """An ONNX Runtime CPU session: validation and the latency tables run where the export is the reference."""
    from acc.runtime.ort_session import create_session

    return create_session(path, device="cpu", threads=threads or None)


def progress_bar(enabled: bool, total: int, description: str) -> Any:
    """A tqdm bar of ``total`` graphs, or one that draws nothing (``--quiet``)."""
    if not enabled:
        return nullcontext(_NoBar())
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="graph", leave=False)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass
