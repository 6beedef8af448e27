#!/usr/bin/env bash
# Edge-class GPU by simulation (issue #22): the H100 restricted to about an Orin's SM count with CUDA MPS, then the
# batch 1/4 x length 64/128/256 latency table of dense and every profile on the Triton fast path (BERT-base fp16,
# CUDA graphs), once with the whole GPU under MPS (100%) and once with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=12 (torch
# sees 14 of 132 SMs). With ORT_BUNDLE=<bundle dir> (onnxruntime-gpu in /tmp/site, as static_gpu.sh prepares it;
# the bundle is exported there from ORT_MODEL, default bert-sst2, fused form fp32+fp16, when it does not exist) the
# bundle's ONNX graphs on ORT CUDA are timed the same two ways by gpu_check2.py (fp16, IO binding, CUDA graphs per
# bucket, vs the ORT-optimized fp16 dense baseline). SKIP_TRITON=1 times only the ONNX graphs.
#
# Run as root on the device machine from the repo root; writes $OUT/edge-sim.{md,json} plus one JSON per run:
#   bash benchmarks/edge/mps_sim.sh                       # about 5 minutes (two runs of ~2 min + startup)
#   ORT_BUNDLE=/tmp/bundles/bert-sst2 bash benchmarks/edge/mps_sim.sh
# MPS is stopped on exit (echo quit | nvidia-cuda-mps-control), also after an error.
set -uo pipefail
source benchmarks/device/env.sh
: "${OUT:?set OUT to the folder that receives edge-sim.md}"
PERCENTAGES=${PERCENTAGES:-100 12}
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog
mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader || true
nvidia-cuda-mps-control -d || { echo "error: nvidia-cuda-mps-control -d failed (run as root on the GPU machine)" >&2; exit 1; }
trap 'echo quit | nvidia-cuda-mps-control' EXIT

status=0
for pct in $PERCENTAGES; do
  echo "== MPS ${pct}%"
  if [ "${SKIP_TRITON:-0}" != 1 ]; then
    CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=$pct timeout 280 python benchmarks/edge/mps_sim.py run --label "mps${pct}" \
      --out "$OUT/edge-sim-mps${pct}.json" --budget-s "${MPS_BUDGET_S:-200}" 2>&1 | tee "$OUT/edge-sim-mps${pct}.log" || status=1
  fi
  if [ -n "${ORT_BUNDLE:-}" ]; then
    CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=$pct timeout 280 python benchmarks/device/gpu_check2.py --bundle "$ORT_BUNDLE" \
      --model "${ORT_MODEL:-bert-sst2}" --attention fused --precisions fp16 --no-adjustable --skip-agreement \
      --export-examples 32 --batches 1,4 --seqs 64,128,256 --max-seconds "${ORT_MAX_SECONDS:-0.5}" \
      --out "$OUT/edge-sim-ort-mps${pct}.json" 2>&1 | grep -v "Memcpy\|graph capture" | tail -8 || status=1
  fi
done
if [ "${SKIP_TRITON:-0}" != 1 ]; then
  python benchmarks/edge/mps_sim.py table "$OUT"/edge-sim-mps*.json --out "$OUT/edge-sim" || status=1
fi
exit "$status"
