#!/usr/bin/env bash
# Issues #6 / #9 on the H100: the fused export form on ONNX Runtime's CUDA EP. Stages (STAGES, comma-separated):
#   ops    AccScore kernel vs its inlined ONNX body (ops_check.sh)                  -> $OUT/ops_check.{json,md}
#   probe  where the fp16 *eager* graphs go non-finite on CUDA (fp16_probe.py)       -> $OUT/fp16_probe.json
#   agree  bert-sst2 eager and fused forms, fp32+fp16 on CUDA vs CPU fp32 (no latency) -> $OUT/h100-agree-*.json
#   sst2   bert-sst2 fused form fp32+fp16: agreement with CPU fp32 + latency         -> $OUT/h100-fused-sst2.json
#   base   random BERT-base fused form fp16: latency vs the fp16 fused dense baseline, with the AccScore kernel
#          and (BODY=1) again with the inlined body                                  -> $OUT/h100-fused-base*.json
# Needs onnxruntime-gpu in /tmp/site (benchmarks/device/ort_pieces.sh) and, carried: .device/wheels,
# .device/bert-sst2, .device/ops (the CUDA build of libacc_ort_ops, built off-device with acc-build-ops --cuda),
# cpp/.deps (ORT headers, for ops_check's own build attempt). Expected wall: ops 1-2 min, probe 2, sst2 3, base 5.
set -euo pipefail
source benchmarks/device/env.sh
: "${OUT:?set OUT}"
export PYTHONUNBUFFERED=1
export ACC_ORT_OPS_LIBRARY=${ACC_ORT_OPS_LIBRARY:-$PWD/.device/ops/libacc_ort_ops.so}
STAGES=${STAGES:-ops,probe,sst2,base}
MAXS=${MAX_SECONDS:-2}
quiet() { grep --line-buffered -v "Loading weights\|Writing model shards" || true; }
python -c "import onnxruntime as o; o.preload_dlls(); print('onnxruntime', o.__version__, o.get_available_providers())"
mkdir -p /tmp/bundles

if [[ ,$STAGES, == *,ops,* ]]; then
  echo "== ops"; bash benchmarks/device/ops_check.sh 2>&1 | tail -25 || echo "ops stage failed"
fi

if [[ ,$STAGES, == *,probe,* ]]; then
  echo "== probe"
  python -m acc.tools.export --model .device/bert-sst2 --speedups 1.5,3,4.8 -o /tmp/bundles/sst2-eager \
    --precision fp32,fp16 --no-bench --quiet --validate-grid none --max-examples 32 --no-adjustable \
    --overwrite --allow-mismatch 2>&1 | quiet | tail -4
  python benchmarks/device/fp16_probe.py --bundle /tmp/bundles/sst2-eager --out "$OUT/fp16_probe.json" \
    --profiles s1.5,s3 --examples 256 2>&1 | tail -12 || echo "probe stage failed"
fi

if [[ ,$STAGES, == *,agree,* ]]; then
  echo "== agree (SST-2 dev, fp32 + fp16 on CUDA vs fp32 on CPU; both graph forms; no latency)"
  for form in eager fused; do
    python benchmarks/device/gpu_check2.py --model .device/bert-sst2 --attention $form --precisions fp32,fp16 \
      --no-adjustable --bundle /tmp/bundles/sst2-$form --out "$OUT/h100-agree-$form.json" --export-examples 32 \
      --skip-latency 2>&1 | quiet | grep '"graph"' | cut -c1-220 || echo "agree $form failed"
  done
fi

if [[ ,$STAGES, == *,sst2,* ]]; then
  echo "== sst2 (fused form)"
  python benchmarks/device/gpu_check2.py --model .device/bert-sst2 --attention fused --precisions fp32,fp16 \
    --no-adjustable --bundle /tmp/bundles/sst2-fused --out "$OUT/h100-fused-sst2.json" --export-examples 32 \
    --batches 1,8,32 --seqs 128,512 --max-seconds "$MAXS" 2>&1 | quiet | tail -20 || echo "sst2 stage failed"
fi

if [[ ,$STAGES, == *,base,* ]]; then
  echo "== base (random BERT-base, fused form, fp16)"
  python - <<'PY' 2>&1 | quiet
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
  common=(--model /tmp/bert-base-random --attention fused --precisions fp16 --no-adjustable --skip-agreement
          --bundle /tmp/bundles/base-fused --export-examples 16 --max-seconds "$MAXS")
  python benchmarks/device/gpu_check2.py "${common[@]}" --batches "${BATCHES:-1,8,32,128}" --seqs "${SEQS:-128,256,512}" \
    --out "$OUT/h100-fused-base.json" 2>&1 | quiet | tail -16 || echo "base stage failed"
  if [ "${BODY:-1}" = 1 ]; then
    ACC_ORT_OPS_LIBRARY= python benchmarks/device/gpu_check2.py "${common[@]}" --batches 8,32 --seqs 128,512 \
      --out "$OUT/h100-fused-base-body.json" 2>&1 | quiet | tail -6 || echo "base body stage failed"
  fi
fi
echo "fused_gpu done"
