"""Run the ``recode bench`` harness (its defaults: local model, 512 max tokens) on an explicit list of tasks.

usage: python run_tasks.py OUT SPLIT TASK [TASK...]    (the seen split only; env PROMPTS=dir reads the
prompt files from dir instead of tools/prompts, so a baseline can run while tools/prompts is edited)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from recode_graph.tools import prompting

from recode_graph.bench import harness
from recode_graph.bench.sample import task_type_of


def main(argv: list[str]) -> None:
    out, split, tasks = argv[0], argv[1], argv[2:]
    if split != "seen":
        raise SystemExit("tune on the seen split only")
    if os.environ.get("PROMPTS"):
        prompting.PROMPT_DIR = Path(os.environ["PROMPTS"])
    print("prompts from", prompting.PROMPT_DIR, flush=True)
    chosen = [{"task_id": t, "task_type": task_type_of("alfworld", t)} for t in tasks]

    def pick(all_tasks: list[str], n: int, seed: int, env: str) -> list[dict[str, str]]:
        return [c for c in chosen if c["task_id"] in all_tasks]

    harness.stratified_sample = pick  # type: ignore[assignment]
    result = harness.run_bench("alfworld", split, n=len(chosen), model="local", out_dir=out, seed=0,
                               progress=False)
    print(result["summary"], flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
