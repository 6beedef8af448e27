"""Export ACC T5 models: an encoder graph per profile (with ``ai.acc::TokenSelect``) plus one decoder-step graph
with a self-attention cache that cross-attends to the kept encoder vectors; validated end to end by generation.

Entry point: ``main_export_seq2seq`` (``acc.exporter.families`` dispatches T5 checkpoints to it).
"""

from __future__ import annotations

__all__ = ["main_export_seq2seq", "render_seq2seq_summary"]


def __getattr__(name: str):  # noqa: ANN202 - lazy, so importing the package does not import torch
    if name == "main_export_seq2seq":
        from .pipeline import main_export_seq2seq

        return main_export_seq2seq
    if name == "render_seq2seq_summary":
        from .summary import render_seq2seq_summary

        return render_seq2seq_summary
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
