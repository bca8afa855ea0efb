"""Whole episodes through the graph on real environments, driven by scripted models."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from recode_graph.tools import load_environment

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.models.scripted import load_fixture


def gold_model(gold: list[str]) -> ScriptedChatModel:
    """solve → two sub-goals, each replaying half of the gold path through run()."""
    half = len(gold) // 2
    return ScriptedChatModel(by_call={
        "solve": expansion("two stages", "observation = first_stage(observation)\n"
                                         "observation = second_stage(observation)"),
        "first_stage": expansion("replay", f"for action in {gold[:half]!r}:\n    observation = run(action)"),
        "second_stage": expansion("replay", f"for action in {gold[half:]!r}:\n    observation = run(action)"),
    })


def gold_episode(name: str, task_id: str, **options: Any) -> dict[str, Any]:
    env = load_environment(name, **options)
    try:
        env.reset(task_id)
        gold = env.gold_actions()  # type: ignore[attr-defined]
        graph = create_recode_agent(gold_model(gold), environment=env, checkpointer=InMemorySaver())
        out = graph.invoke({"task_id": task_id}, {"configurable": {"thread_id": f"{name}-{task_id}"}})
        taken = [s["args"]["action"] for s in out["trajectory"]]
        assert taken and taken == gold[: len(taken)]  # gold paths may list steps after the win
        return out
    finally:
        env.close()


@pytest.mark.parametrize("task_id", ["coin:20000", "cookingworld:20001", "arithmetic:20000"])
def test_twx_gold_paths_through_the_graph(task_id: str) -> None:
    pytest.importorskip("textworld_express")
    out = gold_episode("twx", task_id)
    assert out["status"] == "success" and out["score"] == 1.0 and out["reason"] == "task completed"
    assert out["instruction"].startswith("You") and out["task_id"] == task_id


@pytest.mark.parametrize("task_id", ["task-6-lifespan-(longest-lived):0", "task-10-use-thermometer:0"])
def test_sciworld_gold_paths_through_the_graph(task_id: str) -> None:
    pytest.importorskip("scienceworld")
    out = gold_episode("sciworld", task_id, split="seen")
    assert out["status"] == "success" and out["score"] == 1.0


@pytest.mark.parametrize("task_id", [
    "pick_and_place_simple-Book-None-SideTable-329/trial_T20190908_050633_745514",
    "pick_cool_then_place_in_recep-Apple-None-CounterTop-14/trial_T20190909_044933_815840",
    "pick_heat_then_place_in_recep-Apple-None-DiningTable-26/trial_T20190907_060234_011675",
])
def test_alfworld_generic_search_and_place_code_wins(task_id: str) -> None:
    pytest.importorskip("alfworld")
    env = load_environment("alfworld", split="seen")
    try:
        graph = create_recode_agent(load_fixture("alfworld_generic"), environment=env)
        out = graph.invoke({"task_id": task_id})
    finally:
        env.close()
    assert out["status"] == "success", out["reason"]
    assert out["score"] == 1.0 and out["task_type"] in {"put", "cool", "heat"}
    assert out["trajectory"][-1]["args"]["action"].startswith("move ")
    assert {n["depth"] for n in out["tree"].values()} == {0, 1, 2}


def test_plan_that_ends_early_fails_and_env_step_limit_ends_episode() -> None:
    pytest.importorskip("textworld_express")
    env = load_environment("twx", step_limit=3)
    try:
        wander = ScriptedChatModel(responses=[expansion("", "for i in range(10):\n    run('look around')")])
        out = create_recode_agent(wander, environment=env).invoke({"task_id": "coin:20000"})
        assert out["status"] == "failed" and len(out["trajectory"]) == 3
        idle = ScriptedChatModel(responses=[expansion("", "run('look around')")])
        out = create_recode_agent(idle, environment=env, max_repairs=0).invoke({"task_id": "coin:20000"})
        assert out["status"] == "failed" and "plan finished" in out["reason"]
    finally:
        env.close()


def test_unknown_task_id_is_a_clear_error() -> None:
    pytest.importorskip("textworld_express")
    env = load_environment("twx")
    try:
        with pytest.raises(Exception, match="twx"):
            create_recode_agent(ScriptedChatModel(responses=[]), environment=env).invoke({"task_id": "nope:1"})
    finally:
        env.close()


def test_a_plan_that_finishes_early_is_replanned_from_the_current_state() -> None:
    pytest.importorskip("textworld_express")
    env = load_environment("twx")
    try:
        env.reset("coin:20000")
        gold = env.gold_actions()  # type: ignore[attr-defined]
        model = ScriptedChatModel(by_call={
            "solve": expansion("start", f"observation = run({gold[0]!r})"),
            "repair:solve": expansion("finish", f"for action in {gold[1:]!r}:\n    observation = run(action)"),
        })
        out = create_recode_agent(model, environment=env).invoke({"task_id": "coin:20000"})
    finally:
        env.close()
    assert out["status"] == "success" and out["score"] == 1.0
    replan = model.calls[1]
    assert "Repair: solve(instruction, observation)" in replan and "the task is not complete yet" in replan
    assert f"run({gold[0]!r}) -> " in replan  # the re-plan sees what the first plan did and what came back
    assert " ".join(out["trajectory"][0]["output"].split())[:100] in replan


def test_an_alfworld_replan_is_told_where_it_stands() -> None:
    """The re-plan of a plan that ended early gets the situation (place, held object), the values the plan
    set and the actions that did nothing; answers split into several <execute> blocks run as one plan."""
    pytest.importorskip("alfworld")
    env = load_environment("alfworld", split="unseen")
    try:
        task = next(t for t in env.list_tasks() if "Mug-None-Desk-308" in t)
        plan = ("<think>look</think>\n<execute>\nlocations = re.findall(r'[a-z]+ \\d+', observation)\n"
                "start = locations[0]\n</execute>\n<think>act</think>\n<execute>\nseen = run(f'go to {start}')\n"
                "run('go to nowhere 9')\nrun('take nothing 1 from nowhere 9')\n</execute>")
        model = ScriptedChatModel(by_call={"solve": plan, "repair:solve": expansion("stop", "final_answer('no')")})
        out = create_recode_agent(model, environment=env).invoke({"task_id": task})
        start = out["trajectory"][0]["args"]["action"].removeprefix("go to ")
    finally:
        env.close()
    actions = [s["args"]["action"] for s in out["trajectory"] if s["name"] == "run"]
    assert actions[1:] == ["go to nowhere 9", "take nothing 1 from nowhere 9"]
    replan = model.calls[1]
    assert f"Now: You are at {start} and you hold nothing." in replan
    assert f"start = '{start}'" in replan and "Values your plan set: locations = [" in replan
    assert "did nothing (do not repeat them as they were): 'go to nowhere 9'; 'take nothing 1 from nowhere 9'" in replan
    assert f"run('go to {start}') -> " in replan


def test_the_prompt_names_what_a_sub_goal_must_assign() -> None:
    model = ScriptedChatModel(by_call={"solve": expansion("", "a, b = pair()\nfinal_answer(a + b)"),
                                       "pair": expansion("", "a, b = 1, 2")})
    assert create_recode_agent(model).invoke({"instruction": "add"})["answer"] == "3"
    assert "Must assign: a, b\nAnswer:" in model.calls[1] and "Must assign" not in model.calls[0].split("Expand:")[-1]


def test_a_repair_that_repeats_the_failed_code_is_asked_again() -> None:
    """A repair answer that is the statement that just failed (or a plan that already ran) is re-asked with a
    hint instead of being run again; a different answer is then run."""
    model = ScriptedChatModel(responses=[expansion("", "x = int('seven')\nfinal_answer(x)"),
                                         expansion("again", "x = int('seven')"),
                                         expansion("fix", "x = 7")])
    out = create_recode_agent(model).invoke({"instruction": "seven"})
    assert out["answer"] == "7" and len(model.calls) == 3
    assert "This is the code that just failed; running it again gives the same result." in model.calls[2]
    assert "This is" not in model.calls[1]
