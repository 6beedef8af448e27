#!/usr/bin/env bash
# GPT-2-small TTFT/decode on the H100 (device tool), eager-score ACC rows beside the fused ones (issue #10).
# No corpus, no training. Carry: .device/wheels. About 60-90 s wall. Writes to $OUT:
#   causal-latency.json (rows + the fused-vs-eager fp32 check), causal-latency.md (tables), causal_latency.log.
set -euo pipefail
source benchmarks/device/env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import triton; print('triton', triton.__version__)" || echo "triton missing: the fused-* rows are left out"
timeout "${CAUSAL_LATENCY_TIMEOUT:-240}" python benchmarks/device/train_causal.py --latency-only --out "$OUT" "$@" \
  2>&1 | tee "$OUT/causal_latency.log"
ls -la "$OUT"
