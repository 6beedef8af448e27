#!/usr/bin/env bash
# The causal-LM GPU run (device tool, H100): train + ACC-fine-tune gpt2-mini, perplexity curves, GPT-2-small TTFT.
# Carry: .device/corpus (12.4 MiB: tokenizer.json, train/heldout .u16.xz, meta.json; built here by
# benchmarks/device/prepare_corpus.py) and .device/wheels. About 5 minutes wall. Writes to $OUT:
#   gpt2-mini.tar (fp16 checkpoint, ~8 MB), causal-results.json, train_causal.log.
# Then, here: tar -xf gpt2-mini.tar -C modeling/zoo && python benchmarks/causal/render_causal.py causal-results.json
set -euo pipefail
source benchmarks/device/env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
timeout "${CAUSAL_TIMEOUT:-340}" python benchmarks/device/train_causal.py --corpus .device/corpus --out "$OUT" "$@" \
  2>&1 | tee "$OUT/train_causal.log"
ls -la "$OUT"
