#!/usr/bin/env bash
# Launch-choice sweep of the fused ACC kernels (issue #9): old kernels vs new, column-sum tiles, selection paths, at
# 1x128, 8x128, 32x512, 128x512 (BERT-base heads, fp16, CUDA-graph timing). Writes $OUT/kernels_sweep.json and .md
# and $OUT/compile_check.jsonl (registers/spills per default variant). About 2-3 min on an H100. Then run
# benchmarks/device/kernels_bench.sh for the full table.
set -uo pipefail
source benchmarks/device/env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader || true
python -c "import triton; print('triton', triton.__version__)" || { echo "triton is missing: nothing to sweep"; exit 1; }
timeout 120 python -m acc.modeling.kernels.compile_check > "$OUT/compile_check.jsonl" 2>&1 || echo "compile_check failed (see compile_check.jsonl)"
timeout 420 python benchmarks/device/kernels_sweep.py --out "$OUT" "$@" 2>&1 | tee "$OUT/kernels_sweep.log"
status=${PIPESTATUS[0]}
echo "kernels_sweep exit $status"
exit "$status"
