#!/usr/bin/env bash
# The local-model measurement: ReCode vs ReAct with Qwen2.5-Coder-1.5B (local, CPU) on 12 ALFWorld unseen
# games (2 per task type) and 6 ScienceWorld unseen tasks. Resumable: re-run to continue where it stopped.
#   nohup benchmarks/run_local.sh > benchmarks/local-1.5b.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-benchmarks/local-1.5b}
for env_n in "alfworld 12" "sciworld 6"; do
  set -- $env_n
  for agent in recode react; do
    $PY -m recode_graph.bench --env "$1" --split unseen -n "$2" --agent "$agent" --model local \
      --concurrency 1 --out "$OUT" --no-progress
  done
done
# CodeAct baseline, ScienceWorld only (ALFWorld would take hours: each answer can ramble to the context limit)
$PY -m recode_graph.bench --env sciworld --split unseen -n 6 --agent codeact --model local \
  --concurrency 1 --out "$OUT" --no-progress
# summary with the tokens priced as gpt-4o-mini (the local model itself is free)
$PY -m recode_graph.bench --env sciworld --out "$OUT" --report-only --price-as gpt-4o-mini > /dev/null
