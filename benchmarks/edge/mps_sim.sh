#!/usr/bin/env bash
# Edge-class GPU by simulation (issue #22): the H100 restricted to about an Orin's SM count with CUDA MPS, then the
# batch 1/4 x length 64/128/256 latency table of dense and every profile on the Triton fast path (BERT-base fp16,
# CUDA graphs), once with the whole GPU under MPS (100%) and once with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=12 (torch
# sees 14 of 132 SMs). With ORT_BUNDLE=<bundle dir> (an exported bundle and onnxruntime-gpu in /tmp/site, as
# gpu_check.sh prepares them) the bundle's ONNX graphs on ORT CUDA are timed the same two ways (gpu_check.py).
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
  CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=$pct timeout 280 python benchmarks/edge/mps_sim.py run --label "mps${pct}" \
    --out "$OUT/edge-sim-mps${pct}.json" --budget-s "${MPS_BUDGET_S:-200}" 2>&1 | tee "$OUT/edge-sim-mps${pct}.log" || status=1
  if [ -n "${ORT_BUNDLE:-}" ]; then
    CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=$pct timeout 280 python benchmarks/device/gpu_check.py --bundle "$ORT_BUNDLE" \
      --latency-only --batches 1,4 --seqs 64,128,256 --iters 20 --out "$OUT/edge-sim-ort-mps${pct}.json" \
      2>&1 | tail -20 || status=1
  fi
done
python benchmarks/edge/mps_sim.py table "$OUT"/edge-sim-mps*.json --out "$OUT/edge-sim" || status=1
exit "$status"
