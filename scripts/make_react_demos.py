"""Write the ReAct demonstrations (tools/prompts/react_<env>_<kind>.txt) from ReCode's few-shot examples.

For each task type, the examples are run as written (``recode_graph.bench.demos.run_examples``) on seen tasks in
order until one is won in at most ``--max-steps`` actions; that episode becomes the demonstration.
Run: ``python scripts/make_react_demos.py [--max-steps 20]`` (uses the installed data, else the bundled sample).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from recode_graph.tools import load_environment
from recode_graph.tools.alfworld import TASK_TYPES, task_type_of
from recode_graph.tools.sciworld import FAMILIES, family_of

from recode_graph.bench.demos import HEADER, PROMPT_DIR, demo_name, demonstration, run_examples


def write(env_name: str, kind: str, task_id: str, text: str) -> None:
    path = PROMPT_DIR / f"{demo_name(env_name, kind)}.txt"
    path.write_text(f"{HEADER}{task_id}\n{text}\n", encoding="utf-8")
    print(f"{path.name}: {text.count('Action: ')} actions")


def make(env_name: str, kinds: list[str], kind_of: Callable[[str], str], max_steps: int, tries: int) -> None:
    env = load_environment(env_name, split="seen")
    try:
        for kind in kinds:
            for task_id in [t for t in env.list_tasks() if kind_of(t) == kind][:tries]:
                try:
                    reset, steps = run_examples(env, task_id)
                except Exception as exc:  # noqa: BLE001 - an example that does not fit this task: try the next
                    print(f"{task_id}: {type(exc).__name__}: {exc}")
                    continue
                if env.won and len(steps) <= max_steps:
                    write(env_name, kind, task_id, demonstration(reset.instruction, reset.observation, steps))
                    break
            else:
                print(f"{env_name} {kind}: no seen task won in {max_steps} steps by the examples")
    finally:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=20)
    parser.add_argument("--tries", type=int, default=30, help="seen tasks tried per type")
    args = parser.parse_args()
    make("alfworld", sorted(set(TASK_TYPES.values())), lambda t: task_type_of(t) or "", args.max_steps, args.tries)
    make("sciworld", sorted(set(FAMILIES.values())), family_of, 30, args.tries)


if __name__ == "__main__":
    main()
