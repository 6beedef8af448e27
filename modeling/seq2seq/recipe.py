"""The whole training recipe of the shipped ACC T5: tokenizer → model → pre-training → fine-tuning → evaluation.

One function, so the GPU run (``benchmarks/device/train_seq2seq.py``) and its CPU smoke run execute the same code.
The checkpoint's ``acc_config.json`` records the architecture, the data, every option, what each phase did and the
accuracy table per prompt template and speedup.
"""

from __future__ import annotations

import importlib.metadata
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acc.modeling.checkpoint import SEQ2SEQ, AccConfig
from acc.profiles import DataError

from .prompts import LABEL_WORDS, templates_by_name, templates_to_json
from .train import (
    PhaseRecord,
    Seq2SeqTrainOptions,
    build_model,
    describe,
    finetune_batches,
    log,
    pretrain_batches,
    run_phase,
    sandwich_configs,
    set_dropout,
)


@dataclass(frozen=True)
class TrainReport:
    """What a run produced: the checkpoint, the accuracy rows and the phases."""

    output_dir: Path
    rows: list[dict[str, Any]]
    phases: list[PhaseRecord]
    model_card: dict[str, Any]
    pretrain_eval: dict[str, float] | None


def train_seq2seq(
    options: Seq2SeqTrainOptions,
    tokenizer_path: str | None = None,
    progress: bool = True,
    say: Callable[[str], None] | None = None,
) -> TrainReport:
    """Run the recipe and write the fp16 checkpoint to ``options.output_dir``.

    The tokenizer is the corpus's BPE wrapped for T5 (``tokenizer_path`` overrides it, e.g. when no corpus is used).
    ``progress``: progress bars; ``say``: where one line per phase goes (default: beside the bars, if any).
    """
    import numpy as np
    import torch

    from acc.modeling.corpus import load_token_corpus
    from acc.modeling.data import load_sst2
    from acc.modeling.evaluate import resolve_device

    from .checkpoint import LoadedSeq2Seq, save_seq2seq
    from .evaluate import evaluate_prompts
    from .tokenizer import t5_tokenizer

    say = say or (lambda message: log(progress, message))
    device = resolve_device(options.device)
    train_templates = templates_by_name(options.templates)
    held_out = templates_by_name(options.held_out)
    corpus = load_token_corpus(options.corpus_dir, ["train", "heldout"]) if options.corpus_dir else None
    source = tokenizer_path or (corpus.tokenizer_path if corpus is not None else None)
    if source is None:
        raise DataError("no tokenizer: pass --corpus-dir (its tokenizer.json is used) or a tokenizer path")
    tokenizer = t5_tokenizer(source)
    model = build_model(tokenizer, options.size, options.dropout, options.seed).to(device)
    sst2_train = load_sst2("train", options.data_dir).head(options.max_train_examples)
    info = describe(model)
    say(
        f"model: T5 {info['num_layers']}+{info['num_decoder_layers']} layers, d_model {info['d_model']}, "
        f"vocab {info['vocab_size']}, {info['parameters']:,} parameters; corpus "
        f"{corpus['train'].size if corpus is not None else 0:,} tokens, SST-2 train {len(sst2_train):,}"
    )
    phases: list[PhaseRecord] = []
    pretrain_eval = None

    if corpus is not None and options.pretrain_seconds > 0:
        set_dropout(model, 0.0)  # a few minutes of pre-training underfit; dropout would only slow it down
        rng = np.random.default_rng(options.seed)
        phases.append(run_phase("pretrain", model, pretrain_batches(corpus["train"], tokenizer, options, rng),
                                lambda: [(None, False)], options.pretrain_lr, options, options.pretrain_steps,
                                options.pretrain_seconds, device, progress))  # fmt: skip
        pretrain_eval = heldout_loss(model, corpus["heldout"], tokenizer, options, device)
        say(f"pretrain: {phases[-1].steps} steps in {phases[-1].seconds:.0f} s, held-out loss "
                      f"{pretrain_eval['loss']:.3f} (token accuracy {pretrain_eval['token_accuracy']:.3f})")  # fmt: skip
    set_dropout(model, options.dropout)
    plan, sampler = sandwich_configs(model, options)
    max_steps = options.finetune_epochs * math.ceil(len(sst2_train) / options.batch_size)
    phases.append(run_phase("finetune", model, finetune_batches(sst2_train, tokenizer, options), sampler, options.lr,
                            options, max_steps, options.finetune_seconds, device, progress))  # fmt: skip
    say(f"finetune: {phases[-1].steps} steps ({phases[-1].examples:,} examples) in {phases[-1].seconds:.0f} s")

    card = model_card(corpus, options, len(sst2_train))
    training = {**options_record(options), "plan_mode": plan.mode, "s_max_effective": plan.s_max,
                "s_max_profile": plan.profile.to_dict(), "phases": [p.to_dict() for p in phases],
                "pretrain_heldout": pretrain_eval, "device_used": str(device), "versions": versions(),
                "model_card": {**card, **info}}  # fmt: skip
    acc_config = AccConfig(
        family=SEQ2SEQ, labels=LABEL_WORDS, max_length=options.max_length, min_keep=model.min_keep, training=training
    )
    loaded = LoadedSeq2Seq(model.eval(), tokenizer, acc_config, templates_to_json(train_templates, held_out),
                           source="trained from scratch by acc.modeling.seq2seq.recipe")  # fmt: skip
    save_seq2seq(loaded, options.output_dir, fp16=True)  # before evaluating: a failed evaluation keeps the weights
    with torch.no_grad():  # evaluate exactly the shipped weights: fp16-rounded, run in fp32
        for param in model.parameters():
            param.copy_(param.half().float())
    say(f"evaluating {len(train_templates) + len(held_out)} templates x {len(options.eval_speedups) + 1} profiles")
    rows = evaluate_prompts(loaded, options.eval_speedups, [*train_templates, *held_out], options.held_out,
                            options.data_dir, "dev", options.eval_batch_size, options.max_length,
                            options.max_eval_examples, str(device), options.reference_length, progress)  # fmt: skip
    acc_config.accuracy = [row.to_dict() for row in rows]
    output = save_seq2seq(loaded, options.output_dir, fp16=True)
    return TrainReport(output, acc_config.accuracy, phases, training["model_card"], pretrain_eval)


def heldout_loss(model: Any, stream: Any, tokenizer: Any, options: Seq2SeqTrainOptions, device: Any,
                 batches: int = 8) -> dict[str, float]:  # fmt: skip
    """Span-corruption loss and target-token accuracy on the corpus's held-out documents (fixed seed)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from .data import IGNORE_INDEX

    rng = np.random.default_rng(12345)
    source = pretrain_batches(stream, tokenizer, options, rng)
    total = correct = count = 0.0
    with torch.inference_mode():
        for _ in range(batches):
            batch = next(source).to(device)
            logits = model(batch.input_ids, batch.attention_mask, model.shift_right(batch.labels)).logits.float()
            valid = batch.labels != IGNORE_INDEX
            total += float(F.cross_entropy(logits[valid], batch.labels[valid], reduction="sum"))
            correct += float((logits.argmax(-1)[valid] == batch.labels[valid]).sum())
            count += float(valid.sum())
    return {"loss": total / count, "token_accuracy": correct / count, "target_tokens": int(count)}


def model_card(corpus: Any, options: Seq2SeqTrainOptions, sst2_examples: int) -> dict[str, Any]:
    """An honest description: architecture, size, data; says what the model is not."""
    sources = [s["name"] for s in corpus.meta.get("sources", [])] if corpus is not None else []
    pretrain = (f"span-corruption pre-training on {', '.join(sources)} ({corpus['train'].size:,} BPE tokens)"
                if corpus is not None and options.pretrain_seconds > 0 else "no pre-training")  # fmt: skip
    return {
        "summary": (
            f"T5ForConditionalGeneration ({options.size} preset) trained from random initialisation: {pretrain}, "
            f"then instruction fine-tuning on SST-2 train ({sst2_examples:,} phrases) with templates "
            f"{', '.join(options.templates)} and ACC elimination (sandwich rule); held-out template(s) "
            f"{', '.join(options.held_out) or 'none'}. Not a Google T5 / Flan-T5 checkpoint."
        ),
        "corpus_sources": corpus.meta.get("sources", []) if corpus is not None else [],
        "data": {"pretrain": pretrain, "finetune": f"sst2-train ({sst2_examples} examples)", "eval": "sst2-dev"},
    }


def options_record(options: Seq2SeqTrainOptions) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(options)
    for key in ("templates", "held_out", "eval_speedups"):
        data[key] = list(data[key])
    return data


def versions() -> dict[str, str]:
    import torch
    import transformers

    try:
        acc = importlib.metadata.version("acc-deploy")
    except importlib.metadata.PackageNotFoundError:
        acc = "unknown"
    return {"torch": torch.__version__, "transformers": transformers.__version__, "acc-deploy": acc}
