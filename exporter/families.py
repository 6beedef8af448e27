"""Which export family a checkpoint belongs to: a plain registry of ``ExportFamily`` classes (``family.py``).

The family comes from the checkpoint (``acc.modeling.checkpoint.model_family``: acc_config.json ``family``, else
config.json ``model_type``), so bert-sst2 checkpoints without the field stay encoder classifiers. The family
modules import the exporters (and torch): acc-export imports this registry when an export starts, not for ``--help``.
"""

from __future__ import annotations

from typing import Any

from acc.modeling.checkpoint import CAUSAL_LM, ENCODER_CLASSIFIER, SEQ2SEQ
from acc.profiles import ExportError

from .causal.family import CausalExport
from .encoder import EncoderExport
from .family import ExportFamily
from .seq2seq.family import Seq2SeqExport

FAMILIES: dict[str, type[ExportFamily]] = {
    ENCODER_CLASSIFIER: EncoderExport,
    CAUSAL_LM: CausalExport,
    SEQ2SEQ: Seq2SeqExport,
}

__all__ = ["CAUSAL_LM", "ENCODER_CLASSIFIER", "FAMILIES", "SEQ2SEQ", "family_for_model", "render_summary"]


def family_for_model(model: str) -> type[ExportFamily]:
    """The export family of ``model`` (alias, directory or hub id), read from its checkpoint files."""
    from acc.modeling.checkpoint import model_family

    name = model_family(model)
    if name not in FAMILIES:
        raise ExportError(f"model {model!r} is of family {name!r}, which acc-export cannot export; use one of "
                          f"{sorted(FAMILIES)}")  # fmt: skip
    return FAMILIES[name]


def render_summary(result: Any) -> Any:
    """The printed summary of any family's export result (each result names its ``family``)."""
    return FAMILIES[result.family].render_summary(result)
