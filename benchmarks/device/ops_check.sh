#!/usr/bin/env bash
# AccScore and TokenSelect custom ops on the H100: build libacc_ort_ops with CUDA (or use the one built off-device and
# carried in .device/ops), then kernel vs inlined function body on the CUDA EP (correctness + latency) and a whole
# fused-form graph with the library -> $OUT/ops_check.{json,md}. fp16 AccScore runs the tensor-core (WMMA) kernels,
# compared with the FMA kernels (ACC_ORT_OPS_CUDA_FMA=1) and the body; fp32 runs the FMA kernels. TokenSelect must
# equal the body exactly. Expected wall: ~2-3 min (+ ~30 s when it builds on the device). SELECT=0 / ACC_SCORE=0
# skip a part.
#
# Needs onnxruntime-gpu in /tmp/site (as gpu_check.sh), .device/wheels (onnxscript) and the ORT headers: carry
# cpp/.deps (and .device). Building on the device needs cmake + nvcc there; without them the prebuilt
# .device/ops/libacc_ort_ops.so (acc-build-ops --cuda on a machine with nvcc, static cudart, sm_90) is used.
#   bash benchmarks/device/ops_check.sh
set -euo pipefail
source benchmarks/device/env.sh
: "${OUT:?set OUT to the folder that receives ops_check.json}"
python -c "import onnxruntime as o; o.preload_dlls(); print('onnxruntime', o.__version__, o.get_available_providers())"
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
LIB=${ACC_ORT_OPS_LIBRARY:-}
ORIGIN="ACC_ORT_OPS_LIBRARY"
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
if [ -z "$LIB" ] && command -v cmake >/dev/null && [ -n "$NVCC" ]; then
  export CUDACXX="$NVCC"
  if LIB=$(python -m acc.tools.build_ops --cuda --arch 90 --cache-dir /tmp/acc-cache 2>"$OUT/ops_build.log"); then
    ORIGIN="built on the device with $($NVCC --version | tail -1)"
  else
    tail -5 "$OUT/ops_build.log" >&2; LIB=""
  fi
fi
if [ -z "$LIB" ] && [ -f .device/ops/libacc_ort_ops.so ]; then
  LIB=.device/ops/libacc_ort_ops.so
  ORIGIN="prebuilt off-device, carried in .device/ops ($(cat .device/ops/BUILD_INFO 2>/dev/null | head -1))"
fi
if [ -z "$LIB" ]; then
  echo "error: no cmake/nvcc on this machine and no .device/ops/libacc_ort_ops.so; build it with" \
       "'acc-build-ops --cuda' where nvcc exists and carry .device" >&2
  exit 1
fi
echo "library: $LIB ($ORIGIN)"
SKIP=()
[ "${SELECT:-1}" = 0 ] && SKIP+=(--no-select)
[ "${ACC_SCORE:-1}" = 0 ] && SKIP+=(--no-acc-score)
python benchmarks/device/ops_check.py --library "$LIB" --library-origin "$ORIGIN" --out "$OUT" --iters "${ITERS:-50}" "${SKIP[@]}"
