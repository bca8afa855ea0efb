"""Demonstrations for the ReAct baseline, made from ReCode's own few-shot examples.

ReCode's prompt teaches a strategy per task type as code (``Expand:`` answers). ``run_examples`` executes those
answers as written on a real task (each answer the body of its function), and ``demonstration`` writes the
actions and observations it produced as a ReAct trajectory. ReAct then sees the same strategy, for the same task
type, as a solved episode (ReAct's papers give the model such trajectories), so neither agent knows more.
The committed files (``tools/prompts/react_<env>_<kind>.txt``) are written by ``scripts/make_react_demos.py``
from seen tasks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from recode_graph.tools.prompting import PROMPT_DIR, prompt_text
from recode_graph.tools.sciworld import family_of

HEADER = "# seen task: "  # first line of a demonstration file: the task it was made on (not shown to the model)
EXPANSION = re.compile(r"Expand: (?:(\w+) = )?(\w+)\(([^)]*)\)\n.*?<execute>\n(.*?)</execute>", re.S)


def expansions(examples: str) -> dict[str, tuple[list[str], str, str]]:
    """``{function: (parameters, body, returned variable)}`` of every expansion in a few-shot text."""
    return {name: ([p.strip() for p in params.split(",") if p.strip()], body, ret or "")
            for ret, name, params, body in EXPANSION.findall(examples)}


def run_examples(env: Any, task_id: str) -> tuple[Any, list[tuple[str, str]]]:
    """Reset ``task_id`` and run the examples' ``solve`` on it: the reset and the (action, observation) steps."""
    reset = env.reset(task_id)
    defs = expansions(env.prompt_resources(reset.task_type).examples)
    steps: list[tuple[str, str]] = []

    def run(action: str) -> str:
        observation = str(env.step(action))
        steps.append((action, observation))
        return observation

    def function(name: str) -> Callable[..., Any]:
        params, body, ret = defs[name]

        def call(*args: Any) -> Any:
            scope: dict[str, Any] = {"re": re, "run": run, **{n: function(n) for n in defs}}
            scope.update(zip(params, args, strict=True))
            exec(body, scope)  # noqa: S102 - the project's own prompt text
            return scope.get(ret) if ret else None
        return call

    function("solve")(reset.instruction, reset.observation)
    return reset, steps


def demonstration(instruction: str, observation: str, steps: list[tuple[str, str]]) -> str:
    """A solved episode in the ReAct transcript form the model is asked to continue."""
    lines = [f"Task: {instruction}", f"Observation: {observation.strip()}"]
    for action, seen in steps:
        lines += [f"Action: {action}", f"Observation: {seen.strip()}"]
    return "\n".join(lines)


def demo_name(env: str, kind: str) -> str:
    return f"react_{env}_{kind}"


def load_demo(env: str, kind: str) -> str:
    """The committed demonstration for ``env`` / ``kind``; "" when there is none."""
    return demo_file(env, kind)[1]


def demo_file(env: str, kind: str) -> tuple[str, str]:
    """(the seen task it was made on, the demonstration) of a committed file; ("", "") when there is none."""
    name = demo_name(env, kind)
    if not (PROMPT_DIR / f"{name}.txt").is_file():
        return "", ""
    first, _, text = prompt_text(name).partition("\n")
    return first.removeprefix(HEADER).strip(), text.strip("\n")


def demo_for(env: str, task_type: str) -> str:
    """The demonstration ReAct sees for a task of ``task_type`` in ``env`` (ScienceWorld: by family, the find
    demonstration for the families ReCode's generic example covers); "" when there is none."""
    kind = task_type
    if env == "sciworld":
        kind = family_of(task_type) or "find"
    return load_demo(env, kind) if kind else ""
