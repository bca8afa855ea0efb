"""TextWorldExpress adapter: gold paths reach score 1."""

from __future__ import annotations

import pytest
from recode_graph.tools.base import EnvError
from recode_graph.tools.twx import TextWorldExpress

pytest.importorskip("textworld_express")


@pytest.fixture(scope="module")
def env():
    adapter = TextWorldExpress()
    yield adapter
    adapter.close()


@pytest.mark.parametrize("task_id", ["coin:20000", "cookingworld:20001", "twc:20002", "arithmetic:20000"])
def test_gold_path_wins(env: TextWorldExpress, task_id: str) -> None:
    reset = env.reset(task_id)
    assert reset.instruction.startswith("You") and reset.observation
    for action in env.gold_actions():
        env.step(action)
    assert env.done and env.won and env.score == 1.0


def test_ids_invalid_action_replay_limit(env: TextWorldExpress) -> None:
    tasks = env.list_tasks("test")
    assert tasks[0] == "coin:20000" and len(tasks) == 6 * 20
    assert env.reset(0).task_id == "coin:20000"
    with pytest.raises(EnvError, match="unknown task id"):
        env.reset("chess:1")
    gold = env.gold_actions()
    assert "Unknown action" in env.step("dance wildly")
    observations = [env.step(a) for a in gold[:3]]
    other = env.spawn()
    try:
        other.reset("coin:20000")
        assert other.replay(["dance wildly", *gold[:2]]) == observations[1]
        assert other.step(gold[2]) == observations[2]
    finally:
        other.close()
    limited = TextWorldExpress(step_limit=2)
    try:
        limited.reset("coin:20000")
        limited.step("look around")
        limited.step("look around")
        assert limited.done and "step limit" in limited.step("look around")
    finally:
        limited.close()
