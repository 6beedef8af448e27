#!/usr/bin/env bash
# Accuracy–speedup study (issue #8), device call A of 2: everything trained from the pre-trained MiniLM-L6.
#   dense fine-tuning (the shared budget: 3 epochs, batch 64, lr 1e-4, max length 64) -> post-hoc ACC curve
#   -> PoWER-BERT at 1.5x, 3x, 4.8x (three processes side by side, each: 1 epoch configuration search + 1 epoch
#   re-training from the dense model); beside all of it from t=0: LAT (LengthDrop training, same budget, then an
#   evolutionary search that stops in time for the deadline). Small models leave the GPU mostly idle (launch-bound
#   steps), so the processes share it.
# Carry: .device/minilm-l6 (pre-trained base, fp16), .device/wheels (tqdm, rich).
# Writes to $OUT (6 files): study-dense.json, study-power-bert-{1.5,3,4.8}x.json, study-lat.json, study-a.log.
# Env: DEADLINE (s, default 520) bounds the whole call; WITH_LAT=0 leaves LAT to call B; AMP=1 trains in bf16.
# The same code path on the CPU with tiny data, no GPU:  SMOKE=1 OUT=/tmp/study-a bash benchmarks/study/part_a.sh
PART=a
source benchmarks/study/prelude.sh
BASE=${BASE:-.device/minilm-l6}
[ -d "$BASE" ] || BASE=minilm-l6

if [ "${WITH_LAT:-1}" = 1 ]; then
  timeout "$(left)" benchmarks/study/run.sh lat --model "$BASE" --deadline-s "$(( $(left) - 15 ))" "${flags[@]}" \
    >"$LOGS/lat.log" 2>&1 &
fi
timeout "$(left)" benchmarks/study/run.sh dense --model "$BASE" "${flags[@]}" >"$LOGS/dense.log" 2>&1
rc=$?
echo "dense done after $(( $(date +%s) - START )) s, rc $rc" >>"$LOGS/0-env.log"
for s in 1.5 3 4.8; do
  timeout "$(left)" benchmarks/study/run.sh power-bert --power-speedup "$s" "${flags[@]}" >"$LOGS/power-$s.log" 2>&1 &
done
wait
echo "all done after $(( $(date +%s) - START )) s" >>"$LOGS/0-env.log"
ls -la "$OUT" >>"$LOGS/0-env.log"
