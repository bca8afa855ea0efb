#!/usr/bin/env bash
# The suite under load (issues 20, 34): the README test command RUNS times in a row (default 3) beside CPU
# burners, each run's result and the load average every 30 s written to OUT (default loaded-suite/).
#   bash scripts/loaded_suite.sh [RUNS] [BURNERS]      BURNERS busy-loop processes (default 2, one per core)
#   MIN_LOAD=10 bash scripts/loaded_suite.sh 3         burners added or removed every 20 s so that the 1-minute
#                                                      load stays between MIN_LOAD and MIN_LOAD+LOAD_BAND (3)
# Burners run at normal priority (a niced burner raises the load average without taking CPU from the suite).
# Stops its burners when done or killed.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}" BURNERS="${2:-2}" OUT="${OUT:-loaded-suite}" MIN_LOAD="${MIN_LOAD:-}" LOAD_BAND="${LOAD_BAND:-3}"
mkdir -p "$OUT"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null; pkill -f "$BURN" 2>/dev/null; }
trap cleanup EXIT
BURN="while True: pass  # recode loaded_suite burner"
burn() { exec python3 -c "$BURN"; }
if [ -n "$MIN_LOAD" ]; then
  ( burners=()
    trap 'kill "${burners[@]}" 2>/dev/null; exit 0' TERM INT
    while true; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      if awk -v l="$load" -v m="$MIN_LOAD" 'BEGIN {exit !(l < m + 0.5)}'; then
        burn & burners+=($!)
      elif awk -v l="$load" -v m="$MIN_LOAD" -v b="$LOAD_BAND" 'BEGIN {exit !(l > m + b)}' && [ ${#burners[@]} -gt 0 ]; then
        kill "${burners[-1]}" 2>/dev/null; unset 'burners[-1]'
      fi
      echo "${#burners[@]}" > "$OUT/burners"
      sleep 20
    done ) & pids+=($!)
else
  for _ in $(seq "$BURNERS"); do burn & pids+=($!); done
fi
( while true; do echo "$(date +%T) $(cut -d' ' -f1-3 /proc/loadavg) burners=$(cat "$OUT/burners" 2>/dev/null || echo "$BURNERS")" >> "$OUT/load.log"; sleep 30; done ) & pids+=($!)
failed=0
for i in $(seq "$RUNS"); do
  start=$(date +%s)
  CI=1 make -s test > "$OUT/run$i.log" 2>&1   # the README test command, as .ci/run runs it: a missing part fails, never skips
  code=$?
  echo "run $i exit=$code $(( $(date +%s) - start ))s $(tail -1 "$OUT/run$i.log")" | tee -a "$OUT/runs.txt"
  [ "$code" -eq 0 ] || failed=1
done
exit "$failed"
