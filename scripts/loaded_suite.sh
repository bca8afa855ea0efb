#!/usr/bin/env bash
# The suite under load (issue 20): BURNERS busy-loop processes (default 2, one per core) plus the suite, RUNS
# times in a row (default 3), each run's result and the load average every 30 s written to OUT (default
# loaded-suite/). Usage: bash scripts/loaded_suite.sh [RUNS] [BURNERS]. Stops its burners when done or killed.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}" BURNERS="${2:-2}" OUT="${OUT:-loaded-suite}"
mkdir -p "$OUT"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null; }
trap cleanup EXIT
for _ in $(seq "$BURNERS"); do python3 -c "while True: pass" & pids+=($!); done
( while true; do echo "$(date +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.log"; sleep 30; done ) & pids+=($!)
failed=0
for i in $(seq "$RUNS"); do
  start=$(date +%s)
  .venv/bin/python -m pytest -q -rfE -p no:cacheprovider > "$OUT/run$i.log" 2>&1
  code=$?
  echo "run $i exit=$code $(( $(date +%s) - start ))s $(tail -1 "$OUT/run$i.log")" | tee -a "$OUT/runs.txt"
  [ "$code" -eq 0 ] || failed=1
done
exit "$failed"
