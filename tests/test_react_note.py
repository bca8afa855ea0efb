"""ReAct's repeat note (``--repeat-note``), the counterpart of ReCode's re-plan note, on the real ALFWorld: an
action that changed nothing is answered with how often it was sent, where the agent stands and a request to
choose another; the record keeps the plain observation and the note apart, and the summary names the variant."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from react_models import Recording
from recode_graph.tools import load_environment

from recode_graph.bench import cli as bench_cli
from recode_graph.bench import harness
from recode_graph.bench.config import BenchError
from recode_graph.bench.react import NOTE_MARK, EnvSlot, acted, run_react

SCRIPT = ["inventory", "inventory", "fly to the moon", "look"]


def observations(model: Recording) -> list[str]:
    """The observations the model was shown by its last call, in order."""
    return [str(m.content) for m in model.seen[-1][0]
            if isinstance(m, HumanMessage) and str(m.content).startswith("Observation: ")]


@pytest.fixture()
def alfworld() -> Any:
    env = load_environment("alfworld", split="unseen")
    yield env
    env.close()


def test_an_action_that_changed_nothing_gets_the_note_and_a_new_one_does_not(alfworld: Any) -> None:
    model = Recording(script=SCRIPT, seen=[])
    result = asyncio.run(run_react(model, EnvSlot(alfworld, note=True), "0", max_model_calls=5, text_actions=True))
    shown = observations(model)  # one per action (the task message holds the first observation)
    assert len(shown) == 4
    assert NOTE_MARK.strip() not in shown[0]  # the first inventory is new
    assert "gave the same observation as before; you sent it 2 times in your last 7 steps" in shown[1]
    assert "You are where you started and you hold nothing." in shown[1]
    assert "Do not send it again as it is" in shown[1]
    assert "That action changed nothing." in shown[2]  # refused by the engine, sent once
    assert NOTE_MARK.strip() not in shown[3]
    notes = [s.get("note", "") for s in result.trajectory]
    assert [bool(n) for n in notes] == [False, True, True, False, True]  # the script ends on look again
    assert "you sent it 2 times" in notes[4]
    assert all(NOTE_MARK.strip() not in s["output"] for s in result.trajectory)  # the observation only
    assert result.trajectory[2]["output"] == "Nothing happens."
    # a resumed conversation rebuilds the same trajectory from the tool messages (note split off again)
    calls = [AIMessage("", tool_calls=[{"name": "act", "args": s["args"], "id": f"c{i}"}])
             for i, s in enumerate(result.trajectory)]
    results = [ToolMessage(s["output"] + (NOTE_MARK + s["note"] if s.get("note") else ""), tool_call_id=f"c{i}")
               for i, s in enumerate(result.trajectory)]
    assert acted([m for pair in zip(calls, results, strict=True) for m in pair]) == result.trajectory


def test_without_the_note_the_observation_is_the_environment_s(alfworld: Any) -> None:
    model = Recording(script=SCRIPT, seen=[])
    result = asyncio.run(run_react(model, EnvSlot(alfworld), "0", max_model_calls=5, text_actions=True))
    assert not any(NOTE_MARK.strip() in o for o in observations(model))
    assert observations(model)[2] == "Observation: Nothing happens."
    assert not any("note" in s for s in result.trajectory)


def test_the_bench_records_the_note_variant_apart(tmp_path: Path) -> None:
    model = Recording(script=SCRIPT, seen=[])
    result = harness.run_bench("alfworld", "unseen", n=1, agent="react", model=model, out_dir=tmp_path,
                               repeat_note=True, max_model_calls=4, checkpoint=False, progress=False, plots=False,
                               model_name="scripted")
    assert result["ran"] == 1
    (path,) = (tmp_path / "alfworld-unseen" / "episodes" / "react-full-note").glob("*.json")
    record = json.loads(path.read_text())
    assert record["settings"]["repeat_note"] is True and record["settings"]["history"] == 0
    assert sum(bool(s.get("note")) for s in record["trajectory"]) == 2
    summary = (tmp_path / "summary.md").read_text()
    assert "| alfworld | unseen | react, full history, repeat note | scripted |" in summary


@pytest.mark.parametrize(("options", "message"), [
    ({"agent": "recode", "repeat_note": True}, "repeat_note is a ReAct option; agent 'recode' does not take it"),
    ({"agent": "react", "repeat_note": "yes"}, "repeat_note must be True or False, got 'yes'"),
])
def test_bad_repeat_note_settings_are_one_line_errors(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    with pytest.raises(BenchError) as caught:
        harness.make_config("alfworld", "unseen", 1, model="scripted:nothing", out_dir=tmp_path, **options)
    assert str(caught.value) == message


def test_the_cli_flag_reaches_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = bench_cli.parser().parse_args(["--env", "alfworld", "--agent", "react", "--repeat-note"])
    assert args.repeat_note is True
    code = bench_cli.main(["--env", "alfworld", "--agent", "recode", "--repeat-note", "--out", str(tmp_path),
                           "--model", "scripted:nothing"])
    assert code != 0 and "repeat_note is a ReAct option" in capsys.readouterr().err
