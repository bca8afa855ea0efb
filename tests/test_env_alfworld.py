"""ALFWorld adapter on real game files (seen split)."""

from __future__ import annotations

import re

import pytest
from conftest import require_full_data
from recode_graph.tools.alfworld import AlfWorld, engine_command
from recode_graph.tools.base import EnvError

pytest.importorskip("alfworld")

PUT = "pick_and_place_simple-Book-None-SideTable-329/trial_T20190908_050633_745514"
COOL = "pick_cool_then_place_in_recep-Apple-None-CounterTop-14/trial_T20190909_044933_815840"
HEAT = "pick_heat_then_place_in_recep-Apple-None-DiningTable-26/trial_T20190907_060234_011675"
APPLIANCE = {"clean": "sinkbasin", "heat": "microwave", "cool": "fridge"}


@pytest.fixture(scope="module")
def env() -> AlfWorld:
    return AlfWorld(split="seen")


def scripted_solve(env: AlfWorld, observation: str) -> None:
    """Generic search-and-place code, as a model would write it: loop over locations, open, take, put."""
    parts = env.task_id.split("/")[0].split("-")
    target, recep = parts[1].lower(), parts[3].lower()
    locations = re.findall(r"[a-z]+ \d+", observation)
    obj = None
    for place in locations:
        seen = env.step(f"go to {place}")
        if "closed" in seen:
            seen = env.step(f"open {place}")
        found = re.findall(rf"\b({target} \d+)", seen)
        if found:
            env.step(f"take {found[0]} from {place}")
            obj = found[0]
            break
    assert obj is not None
    if env.task_type in APPLIANCE:
        appliance = next(p for p in locations if p.startswith(APPLIANCE[env.task_type]))
        env.step(f"go to {appliance}")
        env.step(f"{env.task_type} {obj} with {appliance}")
    place = next(p for p in locations if p.split()[0] == recep)
    if "closed" in env.step(f"go to {place}"):
        env.step(f"open {place}")
    env.step(f"put {obj} in/on {place}")  # old phrasing, translated to "move X to Y"


def test_splits_and_ids(env: AlfWorld) -> None:
    require_full_data("alfworld")
    assert len(env.list_tasks("seen")) == 140
    assert len(env.list_tasks("unseen")) == 134
    with pytest.raises(EnvError, match="unknown task id"):
        env.reset("no-such-game/trial_x")
    with pytest.raises(EnvError, match="split"):
        env.list_tasks("valid")


@pytest.mark.parametrize("task_id,kind", [(PUT, "put"), (COOL, "cool"), (HEAT, "heat")])
def test_scripted_episode_wins(env: AlfWorld, task_id: str, kind: str) -> None:
    reset = env.reset(task_id)
    assert reset.task_type == kind and reset.instruction
    assert "You are in the middle of a room" in reset.observation
    scripted_solve(env, reset.observation)
    assert env.done and env.won and env.score == 1.0
    assert "episode is over" in env.step("look")


def test_int_index_invalid_action_and_replay(env: AlfWorld) -> None:
    tasks = env.list_tasks()
    reset = env.reset(tasks.index(PUT))
    assert reset.task_id == PUT
    assert env.step("fly to the moon") == "Nothing happens."
    assert not env.done and env.steps == 1
    first = [env.step("go to sidetable 1"), env.step("look")]
    nxt = env.step("inventory")
    other = env.spawn()
    other.reset(PUT)
    assert other.replay(["fly to the moon", "go to sidetable 1"]) == first[0]
    assert other.step("look") == first[1] and other.step("inventory") == nxt


def test_engine_command_translation() -> None:
    assert engine_command("put mug 1 in/on desk 1", set()) == "move mug 1 to desk 1"
    assert engine_command("Put mug 1 on desk 1.", set()) == "move mug 1 to desk 1"
    assert engine_command("move mug 1 to desk 1", set()) == "move mug 1 to desk 1"


def test_step_limit(env: AlfWorld) -> None:
    limited = AlfWorld(split="seen", step_limit=3)
    limited.reset(PUT)
    for _ in range(3):
        limited.step("look")
    assert limited.done and not limited.won
    assert "step limit of 3" in limited.step("look")
    assert limited.steps == 3
    assert env.step_limit == 80


def test_prompt_resources(env: AlfWorld) -> None:
    for kind in ("put", "clean", "heat", "cool", "examine", "puttwo"):
        res = env.prompt_resources(kind)
        assert "move <object> to <receptacle>" in res.actions
        assert res.examples.startswith("Expand: solve(instruction, observation)")
        assert "Expand: obj = find_and_take(name, locations)" in res.examples


@pytest.mark.parametrize("split", ["seen", "unseen"])
def test_few_shot_solve_code_reads_object_and_receptacle_of_every_task_type(split: str) -> None:
    """The examples' solve code is meant to be copied as is by a small model: its parsing statements must name
    each game's object and receptacle (or lamp) from its instruction, for every instruction template."""
    import json

    from recode_graph.tools.alfworld import SPLITS, TASK_TYPES
    from recode_graph.tools.alfworld_engine import _GOAL_RE

    env = AlfWorld(split=split)
    tasks = env.list_tasks()
    assert {task.split("-")[0] for task in tasks} == set(TASK_TYPES)
    for task in tasks:
        game = json.loads((env._root / SPLITS[split] / task / "game.tw-pddl").read_text())
        instruction = _GOAL_RE.search(game["grammar"]).group(1).strip()
        examples = env.prompt_resources(TASK_TYPES[task.split("-")[0]]).examples
        solve = examples.split("<execute>\n", 1)[1].split("\n</execute>", 1)[0]
        parsing = [line for line in solve.splitlines() if line.startswith(("name = re.", "kind = re.", "lamp = re."))]
        names: dict[str, object] = {"re": re, "instruction": instruction}
        exec("\n".join(parsing), names)  # noqa: S102 - our own prompt text, not model output
        _, obj, _, recep = task.split("/")[0].split("-")[:4]
        assert len(parsing) == 2 and names["name"] == obj.lower(), (instruction, parsing)
        assert names.get("kind", names.get("lamp")) == recep.lower(), instruction
