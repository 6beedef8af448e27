"""ACC for encoder–decoder models (T5): elimination in the encoder, the decoder cross-attends to the kept vectors.

Modules: ``model`` (the ACC T5 wrapper), ``attention`` (T5 attention with position bias from original positions),
``decoding`` (the PyTorch model as a step function for ``acc.runtime.generate``), ``prompts`` (SST-2 instruction
templates), ``data`` (instruction batches, span corruption), ``tokenizer`` (T5 tokens on the shared corpus BPE),
``checkpoint``, ``evaluate`` (accuracy per template and speedup), ``train`` / ``recipe`` (the training run).
"""

from __future__ import annotations

from .checkpoint import LoadedSeq2Seq, is_seq2seq_checkpoint, load_seq2seq, save_seq2seq
from .model import AccT5ForConditionalGeneration, DecoderOutput, EncoderOutput, Seq2SeqOutput, t5_encoder_shape
from .prompts import HELD_OUT_TEMPLATES, LABEL_WORDS, TRAIN_TEMPLATES, PromptTemplate
from .tokenizer import t5_tokenizer

__all__ = [
    "HELD_OUT_TEMPLATES",
    "LABEL_WORDS",
    "TRAIN_TEMPLATES",
    "AccT5ForConditionalGeneration",
    "DecoderOutput",
    "EncoderOutput",
    "LoadedSeq2Seq",
    "PromptTemplate",
    "Seq2SeqOutput",
    "is_seq2seq_checkpoint",
    "load_seq2seq",
    "save_seq2seq",
    "t5_encoder_shape",
    "t5_tokenizer",
]
