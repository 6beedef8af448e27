#!/usr/bin/env bash
# Accuracy–speedup study (issue #8), device call B of 2: the shipped ACC model (modeling/zoo/bert-sst2, in the tree).
#   offline-tuning curve at 11 speedups (no training) and the per-layer evolutionary search (FLOPs cost), ranked on
#   2000 held-out SST-2 train phrases, best profile per budget reported on dev. Optional: a second search with a
#   measured-latency cost (LATENCY_BUNDLE=dir holding a bundle's manifest.json with a latency table at
#   LATENCY_BATCH x LATENCY_SEQ, default 8 x 128), and LAT (WITH_LAT=1, needs .device/minilm-l6) if call A left it out.
# Carry: .device/wheels (and .device/minilm-l6 only with WITH_LAT=1).
# Writes to $OUT: study-acc.json (+ study-lat.json with WITH_LAT=1), study-b.log.
# The same code path on the CPU with tiny data, no GPU:  SMOKE=1 OUT=/tmp/study-b bash benchmarks/study/part_b.sh
PART=b
source benchmarks/study/prelude.sh

if [ "${WITH_LAT:-0}" = 1 ]; then
  BASE=${BASE:-.device/minilm-l6}
  [ -d "$BASE" ] || BASE=minilm-l6
  timeout "$(left)" benchmarks/study/run.sh lat --model "$BASE" --deadline-s "$(( $(left) - 15 ))" "${flags[@]}" \
    >"$LOGS/lat.log" 2>&1 &
fi
latency=()
[ -n "${LATENCY_BUNDLE:-}" ] && latency=(--latency-bundle "$LATENCY_BUNDLE" --latency-batch "${LATENCY_BATCH:-8}" --latency-seq "${LATENCY_SEQ:-128}")
timeout "$(left)" benchmarks/study/run.sh acc --model bert-sst2 --deadline-s "$(( $(left) - 15 ))" "${latency[@]}" \
  "${flags[@]}" >"$LOGS/acc.log" 2>&1
wait
echo "all done after $(( $(date +%s) - START )) s" >>"$LOGS/0-env.log"
ls -la "$OUT" >>"$LOGS/0-env.log"
