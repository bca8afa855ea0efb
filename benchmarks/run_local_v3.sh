#!/usr/bin/env bash
# Issue 24 measurements: local Qwen2.5-Coder-1.5B (temperature 0), grounding off (the default), 512-token answers
# (ReAct 160). Tuning runs use the seen split; the unseen runs are measurements. Resumable: run again to continue.
#   nohup benchmarks/run_local_v3.sh recode-seen > benchmarks/local-1.5b-v3/recode-seen.log 2>&1 &
# PYTHON: the interpreter (a worktree's venv pins the code under test); OUT: where records go.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-benchmarks/local-1.5b-v3}
COMMON=(--model local --concurrency 1 --out "$OUT" --no-progress --max-tokens 512)
REACT=(--agent react --max-tokens 160 --no-checkpoint)
case "${1:-}" in
  recode-seen)       $PY -m recode_graph.bench --env alfworld --split seen -n 12 --agent recode "${COMMON[@]}" ;;
  seen24)            $PY -m recode_graph.bench --env alfworld --split seen -n 24 --agent recode "${COMMON[@]}" --out "$OUT-seen" ;;
  seen24-fail)       $PY -m recode_graph.bench --env alfworld --split seen -n 24 --agent recode "${COMMON[@]}" --out "$OUT-seen" --grounding fail ;;
  recode-unseen)     $PY -m recode_graph.bench --env alfworld --split unseen -n 24 --agent recode "${COMMON[@]}" ;;
  recode-unseen-s1)  $PY -m recode_graph.bench --env alfworld --split unseen -n 24 --seed 1 --agent recode "${COMMON[@]}" --out "$OUT-seed1" ;;
  react-full)        $PY -m recode_graph.bench --env alfworld --split unseen -n 24 "${COMMON[@]}" "${REACT[@]}" --history 0 ;;
  react-window)      $PY -m recode_graph.bench --env alfworld --split unseen -n 24 "${COMMON[@]}" "${REACT[@]}" ;;
  react-window-note) $PY -m recode_graph.bench --env alfworld --split unseen -n 24 "${COMMON[@]}" "${REACT[@]}" --repeat-note ;;
  react-full-note)   $PY -m recode_graph.bench --env alfworld --split unseen -n 24 "${COMMON[@]}" "${REACT[@]}" --history 0 --repeat-note ;;
  codeact)           $PY -m recode_graph.bench --env alfworld --split unseen -n 24 --agent codeact "${COMMON[@]}" ;;
  recode-05b)        $PY -m recode_graph.bench --env alfworld --split unseen -n 24 --agent recode "${COMMON[@]}" --model local:qwen2.5-coder-0.5b --out "$OUT-0.5b" ;;
  sci-recode-seen)   $PY -m recode_graph.bench --env sciworld --split seen -n 12 --agent recode "${COMMON[@]}" ;;
  sci-recode)        $PY -m recode_graph.bench --env sciworld --split unseen -n 24 --agent recode "${COMMON[@]}" ;;
  sci-react)         $PY -m recode_graph.bench --env sciworld --split unseen -n 24 "${COMMON[@]}" "${REACT[@]}" ;;
  sci-react-note)    $PY -m recode_graph.bench --env sciworld --split unseen -n 24 "${COMMON[@]}" "${REACT[@]}" --repeat-note ;;
  report)            $PY -m recode_graph.bench --env alfworld --out "$OUT" --report-only --price-as gpt-4o-mini > /dev/null ;;
  *) echo "usage: $0 recode-seen|seen24|seen24-fail|recode-unseen|recode-unseen-s1|react-full|react-window|react-window-note|react-full-note|codeact|recode-05b|sci-recode-seen|sci-recode|sci-react|sci-react-note|report"; exit 2 ;;
esac
