"""Instruction templates for SST-2 as text-to-text: a prompt around the review, the answer is a label word.

Three templates are trained on; a fourth, worded differently, is never seen in training and measures zero-shot
transfer to a new instruction. The answers are the words ``negative`` / ``positive`` followed by ``</s>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from acc.profiles import DataError

LABEL_WORDS = ("negative", "positive")


@dataclass(frozen=True)
class PromptTemplate:
    """A named instruction; ``text`` holds one ``{text}`` placeholder for the review."""

    name: str
    text: str

    def __post_init__(self) -> None:
        if self.text.count("{text}") != 1:
            raise DataError(f"prompt template {self.name!r} must contain {{text}} exactly once, got {self.text!r}")

    def format(self, review: str) -> str:
        return self.text.replace("{text}", review.strip())


TRAIN_TEMPLATES = (
    PromptTemplate("review-question", "Review: {text}\nIs this review positive or negative?"),
    PromptTemplate("sentiment-of", "{text}\nWhat is the sentiment of this review, positive or negative?"),
    PromptTemplate("did-like", 'Movie review: "{text}" Did the reviewer like the movie? Answer positive or negative.'),
)
HELD_OUT_TEMPLATES = (
    PromptTemplate(
        "critic-opinion", "Here is what a critic wrote: {text}\nWould you call this opinion positive or negative?"
    ),
)


def all_templates() -> dict[str, PromptTemplate]:
    """Every shipped template by name, training ones first."""
    return {t.name: t for t in (*TRAIN_TEMPLATES, *HELD_OUT_TEMPLATES)}


def templates_by_name(names: Sequence[str], known: Mapping[str, PromptTemplate] | None = None) -> list[PromptTemplate]:
    """Look templates up by name; an unknown name is one line listing the known ones."""
    known = dict(known or all_templates())
    missing = [name for name in names if name not in known]
    if missing:
        raise DataError(f"unknown prompt template(s) {missing}; choose from {sorted(known)}")
    return [known[name] for name in names]


def templates_to_json(train: Sequence[PromptTemplate], held_out: Sequence[PromptTemplate]) -> dict[str, object]:
    """The ``prompts`` record of a checkpoint and a bundle: templates, which were trained, and the label words."""
    return {
        "train": {t.name: t.text for t in train},
        "held_out": {t.name: t.text for t in held_out},
        "label_words": list(LABEL_WORDS),
    }


def templates_from_json(
    data: Mapping[str, object],
) -> tuple[list[PromptTemplate], list[PromptTemplate], tuple[str, ...]]:
    """Inverse of :func:`templates_to_json`."""
    try:
        train = [PromptTemplate(name, text) for name, text in dict(data["train"]).items()]  # type: ignore[arg-type]
        held_out = [PromptTemplate(name, text) for name, text in dict(data.get("held_out") or {}).items()]  # type: ignore[arg-type]
        labels = tuple(str(word) for word in data.get("label_words", LABEL_WORDS))  # type: ignore[union-attr]
    except (KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"prompts record is malformed ({exc}); expected train/held_out name→template maps") from exc
    return train, held_out, labels
