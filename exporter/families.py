"""Which export pipeline a checkpoint goes through: encoder classifier, causal LM or encoder–decoder.

A dispatch table (like onnxruntime's ``MODEL_TYPES``), not ``isinstance`` branches in the pipeline: each family
names its ``main_export``-style function and its summary renderer as ``"module:function"`` strings, imported only
when used, so ``acc-export --help`` stays cheap and a family whose extra modules are missing fails with one line.
The family comes from the checkpoint (``acc.modeling.checkpoint.model_family``: acc_config.json ``family``, else
config.json ``model_type``), so bert-sst2 checkpoints without the field keep their path.

Contract of every family's functions::

    export(options: ExportOptions, progress: Callable[[str], None] | None) -> result   # writes one bundle
    render(result) -> rich renderable                                                 # the printed summary
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from acc.modeling.checkpoint import CAUSAL_LM, ENCODER_CLASSIFIER, SEQ2SEQ
from acc.profiles import ExportError

if TYPE_CHECKING:
    from .options import ExportOptions

__all__ = ["CAUSAL_LM", "ENCODER_CLASSIFIER", "SEQ2SEQ", "ExportFamily", "default_families", "family_for_model", "render_summary"]


@dataclass(frozen=True)
class ExportFamily:
    """One family's pipeline and summary renderer, as lazily imported ``module:function`` references."""

    name: str
    export: str
    render: str

    def main_export(self, options: ExportOptions, progress: Callable[[str], None] | None = None) -> Any:
        return _resolve(self.export, self.name)(options, progress)

    def render_summary(self, result: Any) -> Any:
        return _resolve(self.render, self.name)(result)


def default_families() -> dict[str, ExportFamily]:
    """The built-in table (a fresh dict per call: callers may add or replace entries without global state)."""
    return {
        ENCODER_CLASSIFIER: ExportFamily(ENCODER_CLASSIFIER, "acc.exporter.pipeline:main_export",
                                         "acc.exporter.summary:render_summary"),
        CAUSAL_LM: ExportFamily(CAUSAL_LM, "acc.exporter.causal.pipeline:main_export_causal",
                                "acc.exporter.causal.summary:render_causal_summary"),
        SEQ2SEQ: ExportFamily(SEQ2SEQ, "acc.exporter.seq2seq.pipeline:main_export_seq2seq",
                              "acc.exporter.seq2seq.summary:render_seq2seq_summary"),
    }  # fmt: skip


def family_for_model(model: str, families: dict[str, ExportFamily] | None = None) -> ExportFamily:
    """The export family of ``model`` (alias, directory or hub id), read from its checkpoint files."""
    from acc.modeling.checkpoint import model_family

    table = families if families is not None else default_families()
    name = model_family(model)
    if name not in table:
        raise ExportError(f"model {model!r} is of family {name!r}, which acc-export cannot export; use one of {sorted(table)}")
    return table[name]


def render_summary(result: Any, families: dict[str, ExportFamily] | None = None) -> Any:
    """The summary of any family's export result; results say their family (``result.family``, default encoder)."""
    table = families if families is not None else default_families()
    return table[getattr(result, "family", ENCODER_CLASSIFIER)].render_summary(result)


def _resolve(reference: str, family: str) -> Callable[..., Any]:
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ExportError(
                f"the {family} exporter ({module_name}) is not part of this acc-deploy install; upgrade acc-deploy"
            ) from exc
        raise
    function = getattr(module, attribute, None)
    if function is None:
        raise ExportError(f"{module_name} has no {attribute}; the {family} exporter is incomplete, upgrade acc-deploy")
    return function
