#!/usr/bin/env bash
# GPU check 2 (issue #6) on the device machine (H100): fp16 graphs (selection in fp32, and all-fp16) vs the CPU
# fp32 graphs on SST-2 dev, and CUDA latency with session.run / IO binding / CUDA graphs vs the fused dense
# baseline in fp32 and fp16. Writes $OUT/h100-fp16.json and $OUT/gpu_check2.log; expected ~4 min wall.
#
# Needs on the machine:
#   - onnxruntime-gpu unpacked into /tmp/site (earlier calls on the same warm machine, as for gpu_check.sh);
#   - carried: .device/wheels (onnxscript, onnx-ir, ml_dtypes, rich, tqdm:
#     the export needs onnxscript). The model is the tracked modeling/zoo/bert-sst2 (alias bert-sst2): the bundle
#     (fp32 + fp16 + fp16-all graphs, ~190 MB) is exported there, nothing large is carried.
# Then, here: python benchmarks/device/gpu_check2.py --render <files_at>/h100-fp16.json
#   → benchmarks/results/h100-fp16-bert-sst2_<UTC>.{json,md,png}
# Dry run of every code path on a CPU machine: python benchmarks/device/gpu_check2.py --smoke --out /tmp/smoke.json
set -euo pipefail
source benchmarks/device/env.sh
: "${OUT:?set OUT to the folder that receives h100-fp16.json}"
python -c "import onnxruntime as o; o.preload_dlls(); print('onnxruntime', o.__version__, o.get_available_providers())"
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
export PYTHONUNBUFFERED=1
mkdir -p /tmp/bundles
python benchmarks/device/gpu_check2.py --out "$OUT/h100-fp16.json" --bundle /tmp/bundles/bert-sst2-fp16 \
  --iters "${ITERS:-20}" --max-seconds "${MAX_SECONDS:-3}" 2>&1 | grep --line-buffered -v "Loading weights" \
  | tee "$OUT/gpu_check2.log"
