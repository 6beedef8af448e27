"""Train the shipped ACC T5 (``t5-sst2``) on the GPU machine, or its CPU smoke run (``--smoke``), same code path.

    bash benchmarks/device/train_seq2seq.sh                      # GPU (device tool), writes to $OUT
    python benchmarks/device/train_seq2seq.py --smoke --out /tmp/t5-smoke           # reads .device/corpus
    python benchmarks/device/train_seq2seq.py --help                                 # every recipe option

The recipe is ``acc.modeling.seq2seq.recipe.train_seq2seq``: span-corruption pre-training on the shared English
corpus (``.device/corpus``, built by benchmarks/device/prepare_corpus.py), instruction fine-tuning on SST-2 train
with three templates and ACC elimination (sandwich rule), then SST-2 dev accuracy per template (three trained, one
held out) and per speedup. Writes to ``--out``: ``seq2seq-train.json`` (schema_version, device, model card,
phases, accuracy rows) and ``t5-sst2.tar`` (the fp16 checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

SCHEMA_VERSION = 1
# --smoke: the identical recipe on a tiny slice, on CPU, in well under a minute.
SMOKE = dict(size="tiny", device="cpu", pretrain_seconds=6.0, pretrain_batch_size=16, pretrain_length=64,
             finetune_seconds=6.0, batch_size=16, max_train_examples=2000, max_eval_examples=48,
             eval_speedups=(1.5, 2.0), eval_batch_size=48)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    from acc.modeling.seq2seq.recipe import train_seq2seq
    from acc.modeling.seq2seq.train import Seq2SeqTrainOptions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/t5-train")), help="results folder")
    parser.add_argument("--smoke", action="store_true", help="tiny model, seconds of training, CPU: checks the path")
    parser.add_argument("--progress", action="store_true", help="progress bars (off: phase lines only)")
    Seq2SeqTrainOptions.add_arguments(parser)  # every recipe option (--pretrain-seconds, --lr, ...)
    parser.set_defaults(output_dir="/tmp/t5-sst2", corpus_dir=".device/corpus")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    options = Seq2SeqTrainOptions.from_args(args)
    if args.smoke:
        options = replace(options, output_dir=options.output_dir + "-smoke", **SMOKE)

    import torch

    print(f"torch {torch.__version__}, device {_device_name(options.device)}", flush=True)
    report = train_seq2seq(options, progress=args.progress, say=lambda line: print(line, flush=True))
    wall = time.perf_counter() - start
    results = {
        "schema_version": SCHEMA_VERSION,
        "kind": "seq2seq-train",
        "smoke": args.smoke,
        "device": _device_name(options.device),
        "wall_s": round(wall, 1),
        "model_card": report.model_card,
        "pretrain_heldout": report.pretrain_eval,
        "phases": [phase.to_dict() for phase in report.phases],
        "rows": report.rows,
    }
    (args.out / "seq2seq-train.json").write_text(json.dumps(results, indent=2) + "\n")
    with tarfile.open(args.out / "t5-sst2.tar", "w") as tar:
        for path in sorted(report.output_dir.iterdir()):
            tar.add(path, arcname=path.name)
    for row in report.rows:
        print(f"{row['template']:>16} {row['profile']:>6} acc {100 * row['accuracy']:6.2f}  "
              f"constrained {100 * (row['constrained_accuracy'] or 0):6.2f}  valid {100 * row['valid_fraction']:6.2f}  "
              f"kept {100 * row['kept_fraction']:5.1f}%", flush=True)  # fmt: skip
    print(f"done in {wall:.0f} s; wrote {args.out}/seq2seq-train.json and t5-sst2.tar", flush=True)
    return 0


def _device_name(device: str) -> str:
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())
