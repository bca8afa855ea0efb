"""Action grounding (off / hint / snap) on the three real environments that list their valid actions."""

from __future__ import annotations

import pytest
from recode_graph.tools import load_environment
from recode_graph.tools.base import EnvError
from recode_graph.tools.grounding import clear_choice, closest, hint_text

BOOK = "pick_and_place_simple-Book-None-SideTable-329/trial_T20190908_050633_745514"
COOL = "pick_cool_then_place_in_recep-Apple-None-CounterTop-14/trial_T20190909_044933_815840"
THERMO = "task-10-use-thermometer:0"


# -- the matching rules ---------------------------------------------------------------------------------
def test_clear_choice_fills_in_numbers_and_fillers_but_never_swaps_objects() -> None:
    valid = ["go to fridge 1", "go to drawer 1", "go to drawer 2", "take mug 1 from desk 2", "take pen 1 from desk 2"]
    assert clear_choice("go to fridge", valid) == "go to fridge 1"
    assert clear_choice("take mug from desk 2", valid) == "take mug 1 from desk 2"
    assert clear_choice("go to drawer", valid) is None  # drawer 1 or 2: a tie
    assert clear_choice("take cup from desk 2", valid) is None  # no valid action has a cup
    assert clear_choice("go to drawer 3", valid) is None  # the number it gave is nowhere
    assert clear_choice("open door kitchen", ["open door to kitchen", "open door to hallway"]) == "open door to kitchen"
    assert clear_choice("look at door", ["look at bedroom door", "look at door to kitchen"]) is None


def test_closest_ranks_by_shared_words_then_verb_deterministically() -> None:
    valid = ["go to sidetable 2", "go to sidetable 1", "examine sidetable 1", "inventory", "look"]
    assert closest("go to sidetable", valid, 3) == ["go to sidetable 1", "go to sidetable 2", "examine sidetable 1"]
    assert closest("go to sidetable", list(reversed(valid)), 3) == closest("go to sidetable", valid, 3)
    assert sorted(closest("dance", ["look", "inventory"])) == ["inventory", "look"]  # no shared word: all listed
    assert hint_text("fly", []).endswith("no action is valid at the moment.")


def test_unknown_or_unsupported_grounding_is_an_error() -> None:
    with pytest.raises(EnvError, match="grounding must be one of off, hint, snap, fail"):
        load_environment("twx", grounding="on")
    with pytest.raises(EnvError, match="this environment does not list; use grounding=.off."):
        load_environment("webshop", grounding="hint")
    assert load_environment("webshop", grounding="off").grounding == "off"


# -- ALFWorld --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def alfworld():
    pytest.importorskip("alfworld")
    envs = {mode: load_environment("alfworld", split="seen", grounding=mode) for mode in ("off", "hint", "snap")}
    yield envs
    for env in envs.values():
        env.close()


def test_alfworld_valid_action_is_the_same_in_every_mode(alfworld) -> None:
    seen = set()
    for env in alfworld.values():
        env.reset(BOOK)
        seen.add(env.step("go to bed 1"))
    assert len(seen) == 1 and next(iter(seen)).startswith("You arrive at bed 1.")
    assert "take book 1 from bed 1" in alfworld["hint"].valid_actions()


def test_alfworld_hint_lists_the_closest_valid_actions(alfworld) -> None:
    off, hint = alfworld["off"], alfworld["hint"]
    off.reset(BOOK)
    hint.reset(BOOK)
    assert off.step("go to bed") == "Nothing happens."
    observation = hint.step("go to bed")
    assert observation.startswith('Nothing happens.\n"go to bed" is not a valid action now. Closest valid actions: '
                                  '"go to bed 1"')
    listed = observation.split("Closest valid actions: ")[1].rstrip(".").split(", ")
    assert len(listed) == 5 and all(a.strip('"') in hint.valid_actions() for a in listed)
    assert hint.steps == 1 and hint.actions == ["go to bed"]  # the state did not change
    assert hint.step("go to bed 1").startswith("You arrive at bed 1.")


def test_alfworld_snap_runs_the_clear_choice_and_says_so(alfworld) -> None:
    snap = alfworld["snap"]
    snap.reset(COOL)
    observation = snap.step("go to fridge")
    assert observation.startswith("You arrive at fridge 1. The fridge 1 is closed.")
    assert observation.endswith('(Ran "go to fridge 1" instead of "go to fridge", which is not a valid action now.)')
    assert snap.step("open fridge").startswith("You open the fridge 1.")
    assert snap.steps == 2
    # "go to X" while at X is refused by ALFWorld; what it means there is "examine X"
    assert snap.step("go to fridge 1").startswith("The fridge 1 is open. In it, you see")
    assert alfworld["hint"].reset(COOL) and alfworld["hint"].step("go to fridge 1").startswith("You arrive")
    assert '"go to fridge 1" is not a valid action now. Closest valid actions: "examine fridge 1", ' in (
        alfworld["hint"].step("go to fridge 1"))
    # "put X in Y" is first read as the engine's "move X to Y", then grounded
    snap.reset(BOOK)
    snap.step("go to bed 1")
    assert snap.step("take book 2 from bed").startswith("You pick up the book 2 from the bed 1.")
    snap.step("go to sidetable 1")
    observation = snap.step("put book in sidetable 1")
    assert observation.startswith("You move the book 2 to the sidetable 1.") and snap.won


def test_alfworld_ambiguous_snap_falls_back_to_the_hint(alfworld) -> None:
    snap = alfworld["snap"]
    snap.reset(BOOK)
    snap.step("go to bed 1")  # book 1 and book 2 are on the bed
    observation = snap.step("take book from bed 1")
    assert observation.startswith('Nothing happens.\n"take book from bed 1" is not a valid action now.')
    assert '"take book 1 from bed 1", "take book 2 from bed 1"' in observation
    assert snap.step("inventory") == "You are not carrying anything."


def test_alfworld_snap_replays_and_spawns_the_same(alfworld) -> None:
    snap = alfworld["snap"]
    snap.reset(COOL)
    first = [snap.step(a) for a in ("go to fridge", "open fridge", "go to countertop")]
    other = snap.spawn()
    try:
        assert other.grounding == "snap"
        other.reset(COOL)
        assert other.replay(["go to fridge", "open fridge"]) == first[1]
        assert other.step("go to countertop") == first[2]
    finally:
        other.close()


# -- TextWorldExpress ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def twx():
    pytest.importorskip("textworld_express")
    envs = {mode: load_environment("twx", grounding=mode) for mode in ("off", "hint", "snap")}
    yield envs
    for env in envs.values():
        env.close()


def test_twx_valid_invalid_snap_and_ambiguous(twx) -> None:
    for env in twx.values():
        env.reset("coin:20000")
    assert len({env.step("open door to north") for env in twx.values()}) == 1  # valid: unchanged
    assert twx["off"].step("go south") == "Unknown action: I'm not sure what you mean."
    hint = twx["hint"].step("go south")
    assert hint.startswith("Unknown action: I'm not sure what you mean.\n\"go south\" is not a valid action now. "
                           "Closest valid actions: \"move south\"")
    snap = twx["snap"]
    assert "move south" in snap.valid_actions()
    observation = snap.step("open door south")
    assert observation.endswith('(Ran "open door to south" instead of "open door south", which is not a valid '
                                "action now.)")
    assert observation.startswith("You open the sliding patio door")  # it ran
    ambiguous = snap.step("close door")  # north or south
    assert ambiguous.startswith('Unknown action: I\'m not sure what you mean.\n"close door" is not a valid action')
    assert '"close door to north", "close door to south"' in ambiguous


# -- ScienceWorld ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sciworld():
    pytest.importorskip("scienceworld")
    env = load_environment("sciworld", split="seen", grounding="snap")
    yield env
    env.close()


def test_sciworld_valid_invalid_snap_and_ambiguous(sciworld) -> None:
    env = sciworld
    env.reset(THERMO)
    assert "open door to kitchen" in env.valid_actions()
    looked = env.step("look at picture")  # valid: the engine's own answer, no note
    assert "picture" in looked and "valid action" not in looked and "Ran" not in looked
    hint = env.step("pick up thermometer")  # not in the hallway
    assert hint.startswith('No known action matches that input.\n"pick up thermometer" is not a valid action now. '
                           'Closest valid actions: "pick up picture"')
    snapped = env.step("open door living room")
    assert snapped == ('The door is now open.\n(Ran "open door to living room" instead of "open door living room", '
                       "which is not a valid action now.)")
    assert env.step("go to living room") == "You move to the living room."
    ambiguous = env.step("look at dor")
    assert "is not a valid action now. Closest valid actions:" in ambiguous
    env.reset(THERMO)
    assert env.replay(["pick up thermometer", "open door living room", "go to living room"]) == (
        "You move to the living room.")


# -- the agents: valid_actions() in generated code, the prompt note, bench records -----------------------
def test_recode_code_asks_valid_actions_and_the_prompt_says_how(tmp_path) -> None:
    pytest.importorskip("textworld_express")
    from langgraph.checkpoint.memory import InMemorySaver

    from recode_graph import ScriptedChatModel, create_recode_agent, expansion

    code = ('moves = [a for a in valid_actions() if a.startswith("open door")]\n'
            "for action in moves:\n    observation = run(action)\n"
            'observation = run("close door north")')
    for mode in ("snap", "off"):
        env = load_environment("twx", grounding=mode)
        model = ScriptedChatModel(by_call={"solve": expansion("open every door", code)})
        try:
            out = create_recode_agent(model, environment=env, max_repairs=0, checkpointer=InMemorySaver()).invoke(
                {"task_id": "coin:20000"}, {"configurable": {"thread_id": mode}})
        finally:
            env.close()
        if mode == "off":  # the paper's setting: no such primitive, it is a placeholder to expand
            assert "valid_actions()" not in model.calls[0] and out["status"] == "failed"
            continue
        assert "- valid_actions(): the list of actions that are valid right now" in model.calls[0]
        assert "runs the one clearly closest valid action instead" in model.calls[0]
        actions = [s["args"]["action"] for s in out["trajectory"] if s["name"] == "run"]
        assert actions == ["open door to north", "open door to south", "close door north"]
        assert out["trajectory"][-1]["output"].endswith('(Ran "close door to north" instead of "close door north", '
                                                        "which is not a valid action now.)")


def test_bench_records_and_summary_carry_the_grounding(tmp_path, capsys) -> None:
    pytest.importorskip("alfworld")
    import json

    from recode_graph.bench import cli as bench_cli

    argv = ["--env", "alfworld", "--split", "seen", "-n", "1", "--model", "scripted:alfworld_generic", "--out",
            str(tmp_path), "--no-progress", "--no-plots", "--grounding", "hint"]
    assert bench_cli.main(argv) == 0
    assert "| alfworld | seen | recode (hint) | scripted:alfworld_generic | 1/1 |" in capsys.readouterr().out
    (record_path,) = (tmp_path / "alfworld-seen" / "episodes" / "recode-hint").glob("*.json")
    assert json.loads(record_path.read_text())["grounding"] == "hint"
    with pytest.raises(SystemExit):
        bench_cli.main([*argv[:-1], "on"])
    assert "invalid choice: 'on'" in capsys.readouterr().err


# -- grounding="fail": a refused action fails the statement that sent it -----------------------------------
def test_recode_fail_mode_repairs_the_statement_that_sent_a_refused_action() -> None:
    pytest.importorskip("alfworld")
    from langgraph.checkpoint.memory import InMemorySaver

    from recode_graph import ScriptedChatModel, create_recode_agent, expansion
    from recode_graph.models.scripted import called_name

    plan = 'observation = run("go to bed 99")\nobservation = run("take book 1 from bed 1")'

    def respond(prompt: str) -> str:
        if called_name(prompt).startswith("repair:"):
            return expansion("bed 1 is the bed here", 'observation = run("go to bed 1")')
        return expansion("go to the bed, take the book", plan)

    runs = {}
    for mode in ("fail", "off"):
        env = load_environment("alfworld", split="seen", grounding=mode)
        model = ScriptedChatModel(responder=respond)
        try:
            out = create_recode_agent(model, environment=env, max_repairs=1, checkpointer=InMemorySaver()).invoke(
                {"task_id": BOOK}, {"configurable": {"thread_id": mode}})
        finally:
            env.close()
        runs[mode] = (model.calls, [s["args"]["action"] for s in out["trajectory"] if s["name"] == "run"])
    calls, actions = runs["fail"]
    assert "makes run() raise ValueError with the closest valid actions" in calls[0]
    assert actions[:3] == ["go to bed 99", "go to bed 1", "take book 1 from bed 1"]  # then re-plans
    repair = calls[1]
    assert "ValueError: the action 'go to bed 99' was refused: Nothing happens." in repair
    assert 'Closest valid actions: "go to bed 1"' in repair
    calls, actions = runs["off"]  # the paper's setting: the plan runs on after "Nothing happens."
    assert "was refused" not in "".join(calls)
    assert actions[:2] == ["go to bed 99", "take book 1 from bed 1"]


def test_codeact_fail_mode_shows_the_error_and_keeps_the_step(tmp_path) -> None:
    pytest.importorskip("alfworld")
    from recode_graph import ScriptedChatModel
    from recode_graph.bench.codeact import run_codeact

    code = '<execute>\nrun("go to bed 99")\nprint("not reached")\n</execute>'
    env = load_environment("alfworld", split="seen", grounding="fail")
    try:
        result = run_codeact(ScriptedChatModel(responses=[code]), env, BOOK, max_model_calls=1, executor="inprocess")
    finally:
        env.close()
    observation = [m["content"] for m in result.messages if m["role"] == "user"][-1]
    assert ("error:\n  line 1: run(\"go to bed 99\")\n"
            "ValueError: the action 'go to bed 99' was refused: Nothing happens.") in observation
    assert "not reached" not in observation
    assert [s["args"]["action"] for s in result.trajectory] == ["go to bed 99"]  # the step was taken (and counted)


def test_fail_mode_is_a_mode_and_a_typo_is_refused() -> None:
    pytest.importorskip("alfworld")
    with pytest.raises(EnvError, match="grounding must be one of off, hint, snap, fail, got 'fails'"):
        load_environment("alfworld", split="seen", grounding="fails")
