"""ReAct's demonstrations: one per ALFWorld task type and ScienceWorld family, each a real solved episode of
ReCode's own examples (replayed here on the real environment), shown in ReAct's system prompt, with ReAct's stop
sequence reaching the model."""

from __future__ import annotations

import asyncio
import re

import pytest
from conftest import require_full_data
from langchain_core.messages import SystemMessage
from react_models import Recording
from recode_graph.tools import load_environment
from recode_graph.tools.alfworld import TASK_TYPES
from recode_graph.tools.sciworld import FAMILIES

from recode_graph.bench import demos
from recode_graph.bench.react import DEMO_INTRO, STOP, EnvSlot, run_react

KINDS = [("alfworld", k) for k in sorted(set(TASK_TYPES.values()))] + \
        [("sciworld", k) for k in sorted(set(FAMILIES.values()))]


@pytest.mark.parametrize(("env_name", "kind"), KINDS)
def test_each_demonstration_replays_to_a_win_on_its_seen_task(env_name: str, kind: str) -> None:
    task_id, text = demos.demo_file(env_name, kind)
    assert task_id and text.startswith("Task: ")
    env = load_environment(env_name, split="seen")
    try:
        if task_id not in env.list_tasks():
            require_full_data(env_name)  # the demo's game is not in the bundled sample
        reset = env.reset(task_id)
        assert text.splitlines()[0] == f"Task: {reset.instruction}"
        actions = re.findall(r"^Action: (.+)$", text, re.M)
        observations = re.findall(r"^Observation: (.*)$", text, re.M)[1:]
        for action, shown in zip(actions, observations, strict=True):
            assert env.step(action).startswith(shown)  # the demo shows what the environment says
        assert env.won, (env_name, kind, task_id)
    finally:
        env.close()


def test_demo_for_picks_by_type_and_family() -> None:
    assert demos.demo_for("alfworld", "heat").startswith("Task: put a hot")
    assert demos.demo_for("sciworld", "lifespan-longest-lived") == demos.load_demo("sciworld", "lifespan")
    assert demos.demo_for("sciworld", "boil") == demos.load_demo("sciworld", "find")  # as ReCode's generic example
    assert demos.demo_for("twx", "cooking") == "" and demos.load_demo("alfworld", "nosuchtype") == ""


def test_react_sees_the_demonstration_of_its_task_type_and_stops_at_observation() -> None:
    env = load_environment("alfworld", split="unseen", grounding="snap")
    try:
        model = Recording(script=["look", "inventory"], seen=[])
        result = asyncio.run(run_react(model, EnvSlot(env), "0", max_model_calls=2, text_actions=True))
        system = result.messages[0]["content"]
        kind = result.task_type
        assert DEMO_INTRO.strip() in system and demos.load_demo("alfworld", kind) in system
        assert len(model.seen) == 2 and all(stop == STOP for _, stop in model.seen)
        assert [s["args"]["action"] for s in result.trajectory] == ["look", "inventory"]
        answers = [m["content"] for m in result.messages if m.get("type", m.get("role")) in ("ai", "assistant")]
        assert answers == ["Think: go.", "Think: go."]  # the thought; the action is the answer's tool call
        shown = [m for m in model.seen[1][0] if not isinstance(m, SystemMessage)]  # the transcript, blank lines dropped
        assert [type(m).__name__ for m in shown] == ["HumanMessage", "AIMessage", "HumanMessage"]
        assert shown[1].content == "Think: go.\nAction: look" and str(shown[2].content).startswith("Observation: ")
    finally:
        env.close()
