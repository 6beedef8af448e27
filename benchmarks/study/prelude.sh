# Shared prelude of part_a.sh and part_b.sh: source it with PART=a or b set. Sets up env.sh, $LOGS, the deadline
# clock (left), the flags every run.sh call takes, the per-call log collected into $OUT/study-$PART.log on exit,
# and the environment log.
set -uo pipefail
source benchmarks/device/env.sh
: "${OUT:?set OUT to the folder that receives the results}"
: "${PART:?set PART=a or PART=b before sourcing prelude.sh}"
LOGS=/tmp/acc-study/logs-$PART
rm -rf "$LOGS"; mkdir -p "$OUT" "$LOGS"
START=$(date +%s)
DEADLINE=${DEADLINE:-520}
flags=(-o "$OUT" --work-dir /tmp/acc-study --quiet)  # SST-2: the copy shipped in the package
[ -n "${DATA:-}" ] && flags+=(--data-dir "$DATA")
[ "${SMOKE:-0}" = 1 ] && flags+=(--smoke)
[ "${AMP:-0}" = 1 ] && flags+=(--amp)
left() { echo $((DEADLINE - ($(date +%s) - START))); }
collect() { for f in "$LOGS"/*.log; do echo "=== $(basename "$f")"; grep -v "Loading weights\|Writing model shards" "$f"; done >"$OUT/study-$PART.log"; }
trap collect EXIT

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi";
  python -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__)";
  python -c "import tqdm, rich; print('tqdm', tqdm.__version__)" || echo "tqdm/rich missing: carry .device/wheels"; } >"$LOGS/0-env.log" 2>&1
