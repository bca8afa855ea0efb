#!/usr/bin/env bash
# Issue 15 measurement: local Qwen2.5-Coder-1.5B, ALFWorld unseen 24 games (4 per type, seed 0), every agent with
# the same answer cap (512 tokens), grounding and sample. Resumable: re-run to continue where it stopped.
#   nohup benchmarks/run_local_v2.sh recode-snap > benchmarks/local-1.5b-v2/recode-snap.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-benchmarks/local-1.5b-v2}
# ReAct answers are one thought and one action: 160 tokens is ample. With 512 the 1.5B's degenerate answers (hundreds
# of tokens with no action) cost minutes each on 2 cores and no ReAct episode finished within a session. ReAct runs
# with the default --react-format text (ReAct's Action/Observation transcript; answers of about 9 tokens).
REACT_TOKENS=${REACT_TOKENS:-160}
COMMON=(--model local --concurrency 1 --out "$OUT" --no-progress --max-tokens 512)
case "${1:-all}" in
  recode-snap) $PY -m recode_graph.bench --env alfworld --split unseen -n 24 --agent recode --grounding snap "${COMMON[@]}" ;;
  react-snap)  $PY -m recode_graph.bench --env alfworld --split unseen -n 24 --agent react --grounding snap "${COMMON[@]}" --max-tokens "$REACT_TOKENS" --no-checkpoint ;;
  recode-off)  $PY -m recode_graph.bench --env alfworld --split unseen -n 24 --agent recode --grounding off "${COMMON[@]}" ;;
  sci-recode)  $PY -m recode_graph.bench --env sciworld --split unseen -n 12 --agent recode --grounding snap "${COMMON[@]}" ;;
  sci-react)   $PY -m recode_graph.bench --env sciworld --split unseen -n 12 --agent react --grounding snap "${COMMON[@]}" --max-tokens "$REACT_TOKENS" ;;
  report)      $PY -m recode_graph.bench --env alfworld --out "$OUT" --report-only --price-as gpt-4o-mini > /dev/null ;;
esac
