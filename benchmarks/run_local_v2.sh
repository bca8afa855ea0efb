#!/usr/bin/env bash
# Issue 15 measurement: local Qwen2.5-Coder-1.5B, ALFWorld unseen 24 games (4 per type, seed 0), every agent with
# the same answer cap (512 tokens), grounding and sample. Resumable: re-run to continue where it stopped.
#   nohup benchmarks/run_local_v2.sh recode-snap > benchmarks/local-1.5b-v2/recode-snap.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-benchmarks/local-1.5b-v2}
COMMON=(--model local --concurrency 1 --out "$OUT" --no-progress --max-tokens 512)
case "${1:-all}" in
  recode-snap) $PY -m recode_graph.bench.harness --env alfworld --split unseen -n 24 --agent recode --grounding snap "${COMMON[@]}" ;;
  react-snap)  $PY -m recode_graph.bench.harness --env alfworld --split unseen -n 24 --agent react --grounding snap "${COMMON[@]}" --no-checkpoint ;;
  recode-off)  $PY -m recode_graph.bench.harness --env alfworld --split unseen -n 24 --agent recode --grounding off "${COMMON[@]}" ;;
  sci-recode)  $PY -m recode_graph.bench.harness --env sciworld --split unseen -n 12 --agent recode --grounding snap "${COMMON[@]}" ;;
  sci-react)   $PY -m recode_graph.bench.harness --env sciworld --split unseen -n 12 --agent react --grounding snap "${COMMON[@]}" ;;
  report)      $PY -m recode_graph.bench.harness --env alfworld --out "$OUT" --report-only --price-as gpt-4o-mini > /dev/null ;;
esac
