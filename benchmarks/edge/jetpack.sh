#!/usr/bin/env bash
# JetPack recipe: on a Jetson (Orin, JetPack 6.x: TensorRT 10.x, CUDA 12.x), build TensorRT engines from a bundle
# through acc-deploy's engine builder, validate each against its ONNX graph on SST-2 dev, print the latency table.
#
#   benchmarks/edge/jetpack.sh [BUNDLE] [OUT]        (defaults: bundles/bert-sst2, benchmarks/results/jetson)
#
# NOT RUN ON A JETSON: written and syntax-checked on x86-64; its Python part (jetpack_check.py) calls only the
# builder and runtime interfaces the test suite exercises. Report what breaks. Environment knobs: PRECISIONS
# (fp16), ENGINE_BATCH (1,4,8), ENGINE_SEQ (16,64,128), MAX_EXAMPLES (200), CELLS (1x64,1x128,4x64,4x128).
# Install first (docs/jetson.md): JetPack's python3-libnvinfer, NVIDIA's torch wheel for the JetPack, then
#   python3 -m venv --system-site-packages .venv && . .venv/bin/activate && pip install --no-deps -e . && \
#   pip install numpy onnx onnxruntime tokenizers safetensors transformers onnxscript rich tqdm
set -euo pipefail
BUNDLE=${1:-bundles/bert-sst2}
OUT=${2:-benchmarks/results/jetson}
cd "$(dirname "$0")/../.."

fail() { echo "error: $*" >&2; exit 2; }
[ -f "$BUNDLE/manifest.json" ] || fail "bundle $BUNDLE has no manifest.json; copy bundles/bert-sst2 from the machine that ran acc-export"
[ "$(uname -m)" = aarch64 ] || echo "warning: $(uname -m) is not a Jetson; continuing (any TensorRT 10 GPU machine works)" >&2
[ -f /etc/nv_tegra_release ] && head -1 /etc/nv_tegra_release
python3 -c "import tensorrt" 2>/dev/null \
  || fail "python3 cannot import tensorrt; apt install python3-libnvinfer (JetPack) and use a venv with --system-site-packages"
python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null \
  || fail "torch does not see CUDA; install NVIDIA's torch wheel for your JetPack (the PyPI aarch64 torch is CPU-only)"
python3 -c "import acc.exporter.engines" 2>/dev/null || fail "acc-deploy is not installed; pip install --no-deps -e ."
python3 -c "from acc.exporter.engines import trt_module; t = trt_module(); print('TensorRT', t.__version__)"
python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"

python3 benchmarks/edge/jetpack_check.py "$BUNDLE" --out "$OUT" --precisions "${PRECISIONS:-fp16}" \
  --engine-batch "${ENGINE_BATCH:-1,4,8}" --engine-seq "${ENGINE_SEQ:-16,64,128}" \
  --max-examples "${MAX_EXAMPLES:-200}" --cells "${CELLS:-1x64,1x128,4x64,4x128}"
# Power mode matters for every number above: record it next to the table.
if command -v nvpmodel >/dev/null; then nvpmodel -q | tee "$OUT/nvpmodel.txt"; fi
