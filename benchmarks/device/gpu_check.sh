#!/usr/bin/env bash
# GPU verification on the device machine (H100): ONNX Runtime CUDA EP vs CPU on the bert-sst2 bundle (SST-2 dev),
# then CUDA latency vs the ORT-optimized dense baseline on bert-sst2 and on a random-init BERT-base (latency only).
# Needs onnxruntime-gpu unpacked into /tmp/site (wheel-chunks / wheel-unpack) and, carried in .device/:
# bert-sst2 (the shipped checkpoint), sst2 (TSVs), wheels (onnxscript, onnx-ir, ml_dtypes, rich, tqdm, ...).
set -euo pipefail
source benchmarks/device/env.sh
python -c "import onnxruntime as o; o.preload_dlls(); print('onnxruntime', o.__version__, o.get_available_providers())"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
mkdir -p /tmp/bundles
python -m acc.tools.export --model .device/bert-sst2 --speedups 1.5,3,4.8 -o /tmp/bundles/bert-sst2 --no-bench \
  --quiet --overwrite 2>&1 | grep -v "Loading weights" | tail -12
python benchmarks/device/gpu_check.py --bundle /tmp/bundles/bert-sst2 --out "$OUT/h100-bert-sst2.json" --iters "${ITERS:-20}"
python - <<'PY'
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification
from acc.modeling.checkpoint import AccConfig, LoadedModel, save_checkpoint
from acc.modeling.model import AccBertForSequenceClassification
torch.manual_seed(0)
tok = AutoTokenizer.from_pretrained(".device/bert-sst2")
hf = BertForSequenceClassification(BertConfig(vocab_size=tok.vocab_size, num_labels=2)).eval()  # 12x768 defaults
cfg = AccConfig(training={"note": "random initialisation (seed 0), not trained: latency benchmarks only"})
save_checkpoint(LoadedModel(AccBertForSequenceClassification(hf), tok, cfg, "random"), "/tmp/bert-base-random")
PY
python -m acc.tools.export --model /tmp/bert-base-random --speedups 1.5,3,4.8 -o /tmp/bundles/bert-base-random \
  --no-bench --quiet --validate-grid none --max-examples 64 --overwrite 2>&1 | grep -v "Loading weights" | tail -8
python benchmarks/device/gpu_check.py --bundle /tmp/bundles/bert-base-random --latency-only \
  --out "$OUT/h100-bert-base-random.json" --iters "${ITERS:-20}"
