"""ScienceWorld adapter: gold paths, fast steps equal to the package's, one JVM per adapter."""

from __future__ import annotations

import pytest
from recode_graph.tools.base import EnvError
from recode_graph.tools.procinfo import child_pids
from recode_graph.tools.sciworld import ScienceWorld
from recode_graph.tools.sciworld_text import canonical

pytest.importorskip("scienceworld")

from scienceworld import ScienceWorldEnv  # noqa: E402


class PackageStep(ScienceWorldEnv):
    """The package's own step() on an existing simulator connection (no JVM of its own)."""

    def __init__(self, api: object) -> None:
        self.server, self.envStepLimit, self.lastStepScore = api, 10**6, 0
        self.variationIdx, self.simplificationStr, self.taskName = 1, "", "lifespan-longest-lived"

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def env():
    adapter = ScienceWorld(split="seen")
    yield adapter
    adapter.close()


@pytest.mark.parametrize("task_id", ["task-6-lifespan-(longest-lived):0", "task-2-power-component:0",
                                     "task-10-use-thermometer:0"])
def test_gold_path_wins(env: ScienceWorld, task_id: str) -> None:
    reset = env.reset(task_id)
    assert reset.instruction.startswith("Your task is to") and "This room is called" in reset.observation
    for action in env.gold_actions():
        env.step(action)
    assert env.done and env.won and env.score == 1.0
    assert "episode is over" in env.step("look around")


def test_splits_limits_and_ids(env: ScienceWorld) -> None:
    assert len(env.list_tasks("seen")) == 194 and len(env.list_tasks("unseen")) == 211
    first = env.list_tasks()[0]
    assert env.reset(0).task_id == first
    assert env.step_limit == 30  # task-2a-test-conductivity-of-unknown-substances in max_steps.json
    with pytest.raises(EnvError, match="unknown task id"):
        env.reset("task-99-nothing:0")
    with pytest.raises(EnvError, match="variations"):
        env.reset("task-6-lifespan-(longest-lived):9999")


def test_invalid_action_replay_and_same_as_package(env: ScienceWorld) -> None:
    task = "task-6-lifespan-(longest-lived):1"
    env.reset(task)
    actions = ["dance", "open door to outside", "go to outside", "look around"]
    observations = [env.step(a) for a in actions]
    assert observations[0] == "No known action matches that input." and not env.done
    nxt = env.step("look at agent")
    assert env.replay(actions[:3]) == observations[2]
    assert env.step(actions[3]) == observations[3] and env.step("look at agent") == nxt
    # The package's own (slow) step gives the same observations and scores on the same JVM.
    pkg = PackageStep(env.server.api)
    env.reset(task)
    for action in actions:
        observation, _, done, info = pkg.step(action)
        ours = env.replay(env.actions + [action])
        assert ours == canonical(observation) and env.done == done
        assert env.score == max(0, info["score"]) / 100


def test_one_jvm_for_twenty_resets() -> None:
    adapter = ScienceWorld(split="seen")
    before = set(child_pids("java"))
    tasks = [f"task-6-lifespan-(longest-lived):{v}" for v in range(4)]
    for i in range(20):
        adapter.reset(tasks[i % 4])
        adapter.step("look around")
    mine = set(child_pids("java")) - before
    assert mine == {adapter.jvm_pid}
    adapter.close()
    assert adapter.jvm_pid is None and not set(child_pids("java")) - before
