#!/usr/bin/env bash
# Fused ACC kernels on the GPU (issue #9): correctness vs references, latency table (BERT-base fp16, CUDA graphs),
# bert-sst2 SST-2 dev agreement, torch.profiler summary, then pytest -m gpu if pytest is there. Writes
# $OUT/h100-kernels.json (rewritten after each part) and $OUT/kernels_bench.log. Needs, carried in .device/:
# bert-sst2 only if modeling/zoo/bert-sst2/model.safetensors is not a real file here.
# Triton comes with the device's torch. Render here afterwards:
#   python benchmarks/kernels/render_kernels.py <files_at>/h100-kernels.json
set -uo pipefail
source benchmarks/device/env.sh
MODEL="${KERNELS_MODEL:-bert-sst2}"
if [ ! -f modeling/zoo/bert-sst2/model.safetensors ] && [ -f .device/bert-sst2/model.safetensors ]; then
  MODEL=.device/bert-sst2
fi
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader || true
python -c "import triton; print('triton', triton.__version__)" || echo "triton is missing: fused rows will record the error"
# 540 s hard stop below the 600 s call limit; the script itself starts no new cell or variant after --budget-s.
timeout 540 python benchmarks/device/kernels_bench.py --out "$OUT/h100-kernels.json" --model "$MODEL" "$@" 2>&1 \
  | tee "$OUT/kernels_bench.log"
status=${PIPESTATUS[0]}
echo "kernels_bench exit $status"
exit "$status"
