#!/usr/bin/env bash
# Train the shipped ACC T5 (t5-sst2) on the GPU machine (device tool), about 4.5 minutes of wall time.
# Carry: .device/corpus (token corpus, benchmarks/device/prepare_corpus.py), .device/wheels.
# Writes to $OUT: train-seq2seq.log, seq2seq-train.json (accuracy per template x speedup, phases, model card) and
# t5-sst2.tar (fp16 checkpoint, ~8 MB: unpack into modeling/zoo/t5-sst2/).
# Budgets: 120 s span-corruption pre-training + 110 s instruction fine-tuning + ~20 s evaluation (override with
# PRETRAIN_SECONDS / FINETUNE_SECONDS).
set -euo pipefail
source benchmarks/device/env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
python benchmarks/device/train_seq2seq.py --out "$OUT" --device cuda --corpus-dir .device/corpus \
  --pretrain-seconds "${PRETRAIN_SECONDS:-120}" --finetune-seconds "${FINETUNE_SECONDS:-110}" 2>&1 | tee "$OUT/train-seq2seq.log"
ls -la "$OUT"
