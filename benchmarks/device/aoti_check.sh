#!/usr/bin/env bash
# AOTInductor packages of bert-sst2 on the GPU (issue #9 item 3): compile s1.5/s3/s4.8 (fp16, Triton kernels when
# they can be captured), SST-2 dev agreement vs the eager model, latency vs the eager fast path at 8x128 and 32x512.
# Writes $OUT/aoti_check.json, $OUT/aoti_check.md and $OUT/aoti_check.log. Needs, carried in .device/:
# bert-sst2 only if modeling/zoo/bert-sst2/model.safetensors is not a real file here. About 4-5 min wall,
# most of it compiling (the script starts no 512-length compile after --compile-budget-s, default 170 s).
set -uo pipefail
source benchmarks/device/env.sh
MODEL="${AOTI_MODEL:-bert-sst2}"
if [ ! -f modeling/zoo/bert-sst2/model.safetensors ] && [ -f .device/bert-sst2/model.safetensors ]; then
  MODEL=.device/bert-sst2
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
python -c "import triton; print('triton', triton.__version__)" || echo "triton is missing: packages use the PyTorch references"
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-/tmp/aoti-inductor-cache}"
# 540 s hard stop below the 600 s call limit; JSON is rewritten after every step, so a timeout keeps what finished.
timeout 540 python benchmarks/device/aoti_check.py --out-dir "$OUT" --model "$MODEL" "$@" 2>&1 | tee "$OUT/aoti_check.log"
status=${PIPESTATUS[0]}
echo "aoti_check exit $status"
exit "$status"
