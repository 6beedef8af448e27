#!/usr/bin/env bash
# Issue #17 on the H100: static-width ACC graphs on ONNX Runtime's CUDA EP. Stages (STAGES, comma-separated):
#   base   random BERT-base, fused form, fp16: host copies per graph (ORT's optimized graph: MemcpyToHost nodes) and
#          latency vs the ORT-optimized fp16 dense baseline (IO binding, CUDA graphs per bucket, fixed-shape
#          sessions per bucket)                                                     -> $OUT/h100-static-base.json
#   sst2   the shipped bert-sst2 (real weights), fused form fp32 + fp16: SST-2 dev label agreement vs CPU fp32 and
#          the same latency table                                                   -> $OUT/h100-static-sst2.json
# Needs onnxruntime-gpu in /tmp/site (.whl/ortxz pieces, see benchmarks/README.md), carried .device (sst2 dev set,
# pure-Python wheels) and cpp/.deps (ORT headers for building libacc_ort_ops with nvcc here). ~4 min per stage.
set -euo pipefail
source benchmarks/device/env.sh
: "${OUT:?set OUT}"
export ACC_DATA_DIR=${ACC_DATA_DIR:-.device/sst2} PYTHONUNBUFFERED=1
STAGES=${STAGES:-base,sst2}
MAXS=${MAX_SECONDS:-1.5}
quiet() { grep --line-buffered -v "Loading weights\|Writing model shards" || true; }
python -c "import onnxruntime as o; o.preload_dlls(); print('onnxruntime', o.__version__, o.get_available_providers())"
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
mkdir -p /tmp/bundles

if [ -z "${ACC_ORT_OPS_LIBRARY:-}" ]; then
  export CUDACXX=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
  if LIB=$(python -m acc.tools.build_ops --cuda --arch 90 --cache-dir /tmp/acc-cache 2>"$OUT/ops_build.log"); then
    export ACC_ORT_OPS_LIBRARY=$LIB
    echo "custom ops: $LIB"
  else
    echo "custom-op build failed (graphs run the ops' ONNX bodies):"; tail -5 "$OUT/ops_build.log"
  fi
fi

if [[ ,$STAGES, == *,base,* ]]; then
  echo "== base (random BERT-base, fused form, fp16)"
  [ -d /tmp/bert-base-random ] || python - <<'PY' 2>&1 | quiet
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification
from acc.modeling.checkpoint import AccConfig, LoadedModel, save_checkpoint
from acc.modeling.model import AccBertForSequenceClassification
torch.manual_seed(0)
tok = AutoTokenizer.from_pretrained("modeling/zoo/bert-sst2")  # tokenizer files only (weights not needed)
hf = BertForSequenceClassification(BertConfig(vocab_size=tok.vocab_size, num_labels=2)).eval()  # 12x768 defaults
cfg = AccConfig(training={"note": "random initialisation (seed 0), not trained: latency benchmarks only"})
save_checkpoint(LoadedModel(AccBertForSequenceClassification(hf), tok, cfg, "random"), "/tmp/bert-base-random")
PY
  python benchmarks/device/gpu_check2.py --model /tmp/bert-base-random --attention fused --precisions fp16 \
    --no-adjustable --skip-agreement --bundle /tmp/bundles/base-fused --export-examples 16 --max-seconds "$MAXS" \
    --batches "${BATCHES:-1,8,32,128}" --seqs "${SEQS:-128,512}" --out "$OUT/h100-static-base.json" 2>&1 | quiet \
    | tail -22 || echo "base stage failed"
fi

if [[ ,$STAGES, == *,sst2,* ]]; then
  echo "== sst2 (bert-sst2, fused form, fp32 + fp16)"
  python benchmarks/device/gpu_check2.py --model bert-sst2 --attention fused --precisions fp32,fp16 \
    --no-adjustable --bundle /tmp/bundles/sst2-fused --out "$OUT/h100-static-sst2.json" --export-examples 32 \
    --batches 1,8,32 --seqs 128,512 --max-seconds "$MAXS" 2>&1 | quiet | tail -22 || echo "sst2 stage failed"
fi
echo "static_gpu done"
