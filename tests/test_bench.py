"""``recode bench``: sample, records, resume, summary figures, baselines and the server path, on real
environments with scripted models."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_full_data
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from recode_graph.tools import load_environment

from recode_graph import ScriptedChatModel, expansion
from recode_graph.bench import cli as bench_cli
from recode_graph.bench import harness
from recode_graph.bench.prices import cost_usd, load_prices, price_key
from recode_graph.bench.report import markdown, summarize
from recode_graph.bench.sample import safe_name, stratified_sample
from recode_graph.engine.prompts import render_value

ROOT = Path(__file__).resolve().parent.parent
GAMES = {"games": ("coin", "arithmetic"), "tasks_per_game": 5}
HALVES = {
    "first_half": expansion("first half", "for action in plan[:len(plan) // 2]:\n    observation = run(action)"),
    "second_half": expansion("second half", "for action in plan[len(plan) // 2:]:\n    observation = run(action)"),
}


# -- scripted models that replay gold paths -------------------------------------------------------------
class Gold:
    """Gold paths of twx tasks, found by the task's first observation as the prompt shows it."""

    def __init__(self, env: Any, task_ids: list[str]) -> None:
        self.plans: dict[str, list[str]] = {}
        self.raw: dict[str, str] = {}
        self.wins_after: dict[str, int] = {}  # actions until the task is won
        for task in task_ids:
            reset = env.reset(task)
            gold = env.gold_actions()
            self.plans[task], self.raw[task] = gold, reset.observation
            for i, action in enumerate(gold):
                env.step(action)
                if env.won:
                    self.wins_after[task] = i + 1
                    break

    def task_of(self, text: str, rendered: bool = True) -> str:
        for task, observation in self.raw.items():
            if (f"observation = {render_value(observation)}" if rendered else observation) in text:
                return task
        raise KeyError("no known task in the prompt")

    def recode_model(self, sabotage: tuple[str, ...] = (), latency: float = 0.0) -> ScriptedChatModel:
        def responder(prompt: str) -> str:
            head = prompt.rsplit("Expand:", 1)[-1].split("\n", 1)[0]
            for name, answer in HALVES.items():
                if name in head:
                    return answer
            task = self.task_of(prompt)
            plan = [] if task in sabotage else self.plans[task]
            return expansion("replay", f"plan = {plan!r}\nobservation = first_half(plan, observation)\n"
                                       "observation = second_half(plan, observation)")

        return ScriptedChatModel(responder=responder, latency=latency)

    def codeact_model(self) -> ScriptedChatModel:
        def responder(prompt: str) -> str:
            plan = self.plans[self.task_of(prompt, rendered=False)]
            return f"<think>replay</think>\n<execute>\nfor a in {plan!r}:\n    seen = run(a)\n</execute>"

        return ScriptedChatModel(responder=responder)


def observed(message: BaseMessage) -> bool:
    """An action's result as the model sees it: a tool message, or an observation line (ReAct's text form)."""
    return isinstance(message, ToolMessage) or (isinstance(message, HumanMessage)
                                                and str(message.content).startswith("Observation: "))


class ToolCallingModel(GenericFakeChatModel):
    """Emits ``act`` tool calls: the gold path of the task in the first user message, or ``forever``."""

    gold: Any = None
    forever: str = ""
    as_text: bool = False  # write the call as JSON text (as small local models do) instead of a tool call
    chatter: int = 0  # answers without any action before each call
    overflow_after: int = 0  # raise a context-size error once this many actions were taken (0: never)
    fail_after: int = 0  # raise a connection error once this many actions were taken (0: never)
    repeat: int = 1  # with as_text: write the call this many times, each in its own code fence
    answered: int = 0
    prompts: list[list[BaseMessage]] = []  # what the model was shown, call by call
    bound: list[list[str]] = []  # the tool names of each bind_tools

    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingModel:  # type: ignore[override]
        self.bound.append([getattr(t, "name", "") for t in tools])
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        first = next(m for m in messages if isinstance(m, HumanMessage))
        done = sum(1 for m in messages if observed(m))
        plan = [self.forever] * 1000 if self.forever else self.gold.plans[self.gold.task_of(str(first.content),
                                                                                               rendered=False)]
        usage = {"input_tokens": 100 + done, "output_tokens": 7, "total_tokens": 107 + done}
        if self.overflow_after and done >= self.overflow_after:
            raise ValueError("Error code: 400 - request (8236 tokens) exceeds the available context size (8192)")
        if self.fail_after and done >= self.fail_after:
            raise ConnectionError("model server unreachable")
        self.answered += 1
        self.prompts.append(list(messages))
        since = messages[max((i for i, m in enumerate(messages) if observed(m)), default=0):]
        if sum(1 for m in since if isinstance(m, AIMessage)) < self.chatter:
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content="Let me think.",
                                                                            usage_metadata=usage))])
        if done < len(plan):
            call = {"name": "act", "args": {"action": plan[done]}, "id": f"call_{done}"}
            if self.as_text:
                text = json.dumps({"name": "act", "arguments": {"action": plan[done]}})
                if self.repeat > 1:  # a small model repeating itself: the same call in fence after fence
                    fenced = "\n".join(f"```json\n{text}\n```" for _ in range(self.repeat))
                    message = AIMessage(content=f"I go on.\n{fenced}", usage_metadata=usage)
                else:
                    message = AIMessage(content=f"{{{text}}}", usage_metadata=usage)
            else:
                message = AIMessage(content=f"Next: {plan[done]}", tool_calls=[call], usage_metadata=usage)
        else:
            message = AIMessage(content="I am done.", usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])


@pytest.fixture(scope="module")
def twx() -> Iterator[list[Any]]:
    pytest.importorskip("textworld_express")
    envs = [load_environment("twx", **GAMES)]
    envs.append(envs[0].spawn())
    yield envs
    for env in envs:
        env.close()


@pytest.fixture(scope="module")
def gold(twx: list[Any]) -> Gold:
    return Gold(twx[0], twx[0].list_tasks())


def bench(out: Path, agent: str, model: Any, envs: list[Any], n: int = 4, **options: Any) -> dict[str, Any]:
    return harness.run_bench("twx", "test", n, agent, model, 2, out, environments=envs, progress=False, **options)


def records(out: Path, agent: str) -> dict[str, dict[str, Any]]:
    folder = out / "twx-test" / "episodes" / agent
    return {r["task_id"]: r for r in (json.loads(p.read_text()) for p in sorted(folder.glob("*.json")))}


# -- the sample ---------------------------------------------------------------------------------------
def test_sample_is_seeded_stratified_and_prefix_stable() -> None:
    pytest.importorskip("alfworld")
    require_full_data("alfworld")
    tasks = load_environment("alfworld", split="unseen").list_tasks()
    twelve = stratified_sample(tasks, 12, 0, "alfworld")
    assert twelve == stratified_sample(tasks, 12, 0, "alfworld")
    assert twelve != stratified_sample(tasks, 12, 1, "alfworld")
    counts: dict[str, int] = {}
    for t in twelve:
        counts[t["task_type"]] = counts.get(t["task_type"], 0) + 1
    assert counts == {k: 2 for k in ("put", "clean", "heat", "cool", "examine", "puttwo")}
    assert stratified_sample(tasks, 6, 0, "alfworld") == twelve[:6]  # a smaller n is a prefix
    assert len({t["task_id"] for t in stratified_sample(tasks, 500, 0, "alfworld")}) == len(tasks)
    sci = stratified_sample(load_environment("sciworld", split="unseen").list_tasks(), 6, 0, "sciworld")
    assert len({t["task_type"] for t in sci}) == 6
    with pytest.raises(ValueError, match="n must be"):
        stratified_sample(tasks, 0, 0, "alfworld")


@pytest.mark.parametrize("argv, message", [
    (["--env", "nope"], "unknown environment 'nope'"),
    (["--env", "twx", "--agent", "reflexion"], "unknown agent 'reflexion'"),
    (["--env", "twx", "-n", "0"], "n must be a positive integer"),
    (["--env", "twx", "--concurrency", "-1"], "concurrency must be a positive integer"),
    (["--env", "twx", "--agent", "react", "--server", "http://x"], "use --agent recode"),
    (["--env", "twx", "--split", "nope", "-n", "1"], "twx: unknown split 'nope'"),
])
def test_bad_arguments_are_one_line_errors(argv: list[str], message: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_cli.main([*argv, "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


# -- ReCode runs, records, resume, summary --------------------------------------------------------------
def test_recode_run_records_resume_and_exact_summary(tmp_path: Path, twx: list[Any], gold: Gold) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {"scripted": {"input": 2.0, "output": 10.0}}}))
    sample = stratified_sample(twx[0].list_tasks(), 4, 0, "twx")
    ids = [t["task_id"] for t in sample]
    broken = ids[0]
    model = gold.recode_model(sabotage=(broken,))
    out = tmp_path / "out"
    result = bench(out, "recode", model, twx, prices=prices)
    assert (result["ran"], result["skipped"]) == (4, 0)
    assert json.loads((out / "twx-test" / "tasks.json").read_text())["tasks"] == sample
    recs = records(out, "recode")
    assert sorted(recs) == sorted(ids)
    for task, rec in recs.items():
        assert (out / "twx-test" / "episodes" / "recode" / f"{safe_name(task)}.json").exists()
        assert rec["won"] is (task != broken) and rec["score"] == (0.0 if task == broken else 1.0)
        assert rec["steps"] == (0 if task == broken else gold.wins_after[task])
        assert rec["usage"]["calls"] == len(rec["calls"]) and rec["wall_seconds"] > 0 and rec["model"] == "scripted"
        assert "Examples:" in rec["system_prompts"][rec["calls"][0]["system"]]
        assert rec["code"]["version"] == "0.1.0" and len(rec["code"]["commit"]) == 40  # provenance
        if task != broken:  # solve -> plan + two halves
            assert rec["usage"]["calls"] == 3
            assert rec["tree_stats"] == {"nodes": 6, "depth": 2, "branching": 1.667, "placeholder_share": 0.4}
        else:  # nothing happens: the root is repaired until its budget is spent
            assert rec["reason"] == "the plan finished before the task was completed"
            assert rec["usage"]["calls"] > 3

    row = result["summary"]["rows"][0]
    input_tokens = sum(max(1, len(p) // 4) for p in model.calls)
    output_tokens = sum(r["usage"]["output_tokens"] for r in recs.values())
    assert row["reward_pct"] == 75.0 and row["success_pct"] == 75.0
    assert row["model_calls"] == (9 + recs[broken]["usage"]["calls"]) / 4 == len(model.calls) / 4
    assert row["steps"] == round(sum(gold.wins_after[t] for t in ids if t != broken) / 4, 2)
    assert row["input_tokens"] == round(input_tokens / 4, 1)
    assert row["usd_total"] == round((2.0 * input_tokens + 10.0 * output_tokens) / 1e6, 6)
    broken_tree = recs[broken]["tree_stats"]
    assert row["tree_depth"] == (6 + broken_tree["depth"]) / 4
    assert row["tree_placeholder_share"] == round((1.2 + broken_tree["placeholder_share"]) / 4, 3)
    by_type = {r["task_type"]: r for r in result["summary"]["by_type"]}
    kind = sample[0]["task_type"]
    assert by_type[kind]["reward_pct"] == 50.0 and by_type[kind]["episodes"] == 2
    assert "| twx | test | recode | scripted | 4/4 | 75.00 | 75.00 |" in (out / "summary.md").read_text()
    assert json.loads((out / "summary.json").read_text())["rows"][0] == row
    assert (out / "reward.png").stat().st_size > 1000 and (out / "cost_reward.png").stat().st_size > 1000

    calls = len(model.calls)
    again = bench(out, "recode", model, twx, prices=prices)  # resume: nothing left to run
    assert (again["ran"], again["skipped"]) == (0, 4) and len(model.calls) == calls
    path = out / "twx-test" / "episodes" / "recode" / f"{safe_name(ids[1])}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "status": "error"}))
    again = bench(out, "recode", model, twx, prices=prices)  # error records are retried
    assert (again["ran"], again["skipped"]) == (1, 3) and len(model.calls) == calls + 3  # a solved task
    with pytest.raises(harness.BenchError, match="was run with model 'scripted'"):
        bench(out, "recode", model, twx, model_name="other")


def test_an_episode_cut_short_resumes_from_its_checkpoint(tmp_path: Path, twx: list[Any], gold: Gold) -> None:
    import sqlite3

    down = {"on": True}
    healthy = gold.recode_model()

    def responder(prompt: str) -> str:  # the model server goes down after the first half ran its actions
        if down["on"] and "second_half" in prompt.rsplit("Expand:", 1)[-1].split("\n", 1)[0]:
            raise ConnectionError("model server unreachable")
        return healthy.responder(prompt)  # type: ignore[misc]

    out = tmp_path / "out"
    first = bench(out, "recode", ScriptedChatModel(responder=responder), twx, n=2)
    cut = records(out, "recode")
    assert {r["status"] for r in cut.values()} == {"error"} and first["ran"] == 2
    down["on"] = False
    model = ScriptedChatModel(responder=responder)
    again = bench(out, "recode", model, twx, n=2)
    assert again["ran"] == 2 and len(model.calls) == 2  # only second_half was asked again, once per episode
    for task, rec in records(out, "recode").items():
        assert rec["status"] == "success" and rec["resumed"] is True and rec["steps"] == gold.wins_after[task]
        assert [s["args"]["action"] for s in rec["trajectory"]] == gold.plans[task][: rec["steps"]]
        assert rec["usage"]["calls"] == 3  # the whole episode: solve, first_half (first run), second_half
        heads = [c["user"].split("\n", 1)[0] for c in rec["calls"]]  # all prompts, for export-sft
        assert len(heads) == 3 and heads[0].startswith("Expand: solve(") and "second_half" in heads[2]
        assert rec["attempts"] == 2 and rec["started_at"] == cut[task]["started_at"]
        assert rec["wall_seconds"] > cut[task]["wall_seconds"]
    with sqlite3.connect(out / "twx-test" / "checkpoints.sqlite") as conn:  # finished episodes are forgotten
        assert conn.execute("select count(*) from checkpoints").fetchone()[0] == 0

    down["on"] = True  # without checkpoints a cut-short episode starts over
    plain = tmp_path / "plain"
    bench(plain, "recode", ScriptedChatModel(responder=responder), twx, n=1, checkpoint=False)
    down["on"] = False
    model = ScriptedChatModel(responder=responder)
    bench(plain, "recode", model, twx, n=1, checkpoint=False)
    (rec,) = records(plain, "recode").values()
    assert len(model.calls) == 3 and "resumed" not in rec and not (plain / "twx-test" / "checkpoints.sqlite").exists()


def test_a_react_episode_cut_short_resumes_its_conversation(tmp_path: Path, twx: list[Any], gold: Gold) -> None:
    out = tmp_path / "out"
    bench(out, "react", ToolCallingModel(messages=iter(()), gold=gold, fail_after=2), twx, n=2)
    assert {r["status"] for r in records(out, "react-full").values()} == {"error"}
    bench(out, "react", ToolCallingModel(messages=iter(()), gold=gold, fail_after=2), twx, n=2)  # down again
    cut = records(out, "react-full")
    assert all(r["status"] == "error" and r["resumed"] and r["attempts"] == 2 for r in cut.values())
    model = ToolCallingModel(messages=iter(()), gold=gold)
    assert bench(out, "react", model, twx, n=2)["ran"] == 2
    recs = records(out, "react-full")
    assert model.answered == sum(gold.wins_after[t] - 2 for t in recs)  # the first two steps were not redone
    for task, rec in recs.items():
        assert rec["status"] == "success" and rec["resumed"] is True and rec["steps"] == gold.wins_after[task]
        assert [s["args"]["action"] for s in rec["trajectory"]] == gold.plans[task][: rec["steps"]]
        assert rec["usage"]["calls"] == gold.wins_after[task]  # the whole conversation, all runs
        assert rec["attempts"] == 3 and rec["wall_seconds"] > cut[task]["wall_seconds"]


def test_summary_figures_and_prices_from_records() -> None:
    prices = load_prices()
    assert price_key("openai:gpt-4o-mini", prices) == "gpt-4o-mini"
    assert price_key("gpt-4o-mini-2024-07-18", prices) == "gpt-4o-mini"
    assert price_key("local:qwen2.5-coder-0.5b", prices) == "local" and price_key("mystery", prices) is None
    usage = {"calls": 4, "input_tokens": 1_000_000, "cached_tokens": 400_000, "output_tokens": 100_000}
    assert math.isclose(cost_usd("openai:gpt-4o-mini", usage, prices) or 0, 0.09 + 0.03 + 0.06)

    def rec(task: str, score: float, won: bool, steps: int, calls: int, **extra: Any) -> dict[str, Any]:
        return {"env": "alfworld", "split": "unseen", "agent": "recode", "model": "openai:gpt-4o-mini",
                "task_id": task, "sample_type": task[:3], "score": score, "won": won, "steps": steps,
                "usage": {"calls": calls, "input_tokens": 1000 * calls, "output_tokens": 100 * calls,
                          "cached_tokens": 500 * calls}, "wall_seconds": 2.0 * calls, "status": "success", **extra}

    tree = {"nodes": 9, "depth": 3, "branching": 2.0, "placeholder_share": 0.25}
    rows = [rec("put-1", 1.0, True, 10, 2, tree_stats=tree), rec("put-2", 0.5, False, 20, 4, tree_stats=tree),
            rec("cool-1", 0.0, False, 30, 6, status="error")]
    summary = summarize(rows, prices, {("alfworld", "unseen"): 4})
    row = summary["rows"][0]
    assert row["episodes"] == 3 and row["planned"] == 4 and row["errors"] == 1
    assert (row["reward_pct"], row["success_pct"], row["steps"], row["model_calls"]) == (50.0, 33.33, 20.0, 4.0)
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (4000.0, 400.0, 2000.0)
    per_call = (500 * 0.15 + 500 * 0.075 + 100 * 0.6) / 1e6
    assert math.isclose(row["usd_total"], round(12 * per_call, 6)) and math.isclose(row["usd_per_episode"],
                                                                                     round(4 * per_call, 8))
    assert row["wall_s_total"] == 24.0 and row["tree_depth"] == 3.0 and row["tree_placeholder_share"] == 0.25
    assert {r["task_type"]: r["reward_pct"] for r in summary["by_type"]} == {"put": 75.0, "coo": 0.0}

    local = [{**r, "model": "local"} for r in rows]  # a free local run, priced as if it had used gpt-4o-mini
    assert summarize(local, prices)["rows"][0]["usd_total"] == 0.0
    as_mini = summarize(local, prices, price_as="gpt-4o-mini")
    assert as_mini["priced_as"] == "gpt-4o-mini" and as_mini["rows"][0]["usd_total"] == row["usd_total"]
    assert "USD/episode at gpt-4o-mini prices" in markdown(as_mini)
    with pytest.raises(ValueError, match="not in the price table"):
        summarize(local, prices, price_as="mystery-model")


# -- baselines ----------------------------------------------------------------------------------------
def test_react_and_codeact_baselines_run_and_score(tmp_path: Path, twx: list[Any], gold: Gold) -> None:
    out = tmp_path / "out"
    react = bench(out, "react", ToolCallingModel(messages=iter(()), gold=gold), twx)
    codeact = bench(out, "codeact", gold.codeact_model(), twx)
    rows = {r["agent"]: r for r in codeact["summary"]["rows"]}
    assert set(rows) == {"react", "codeact"} and react["ran"] == 4
    for agent in ("react", "codeact"):
        assert rows[agent]["reward_pct"] == 100.0 and rows[agent]["success_pct"] == 100.0
        for task, rec in records(out, agent).items():
            assert rec["steps"] == gold.wins_after[task] and rec["status"] == "success"
            assert [s["args"]["action"] for s in rec["trajectory"]] == gold.plans[task][: rec["steps"]]
    for task, rec in records(out, "react-full").items():  # one model call per action; stops when the env is done
        assert rec["usage"]["calls"] == gold.wins_after[task]
        assert rec["messages"][0]["role"] == "system" and rec["messages"][2]["tool_calls"][0]["name"] == "act"
        assert rec["messages"][-1]["role"] == "tool"
    assert rows["codeact"]["model_calls"] == 1.0 and rows["react"]["tree_depth"] is None


def test_react_accepts_tool_calls_written_as_text(tmp_path: Path, twx: list[Any], gold: Gold) -> None:
    result = bench(tmp_path, "react", ToolCallingModel(messages=iter(()), gold=gold, as_text=True), twx, n=2)
    assert result["summary"]["rows"][0]["success_pct"] == 100.0
    for task, rec in records(tmp_path, "react-full").items():
        assert rec["steps"] == gold.wins_after[task]
        assert rec["messages"][2]["tool_calls"][0]["args"] == {"action": gold.plans[task][0]}


@pytest.mark.parametrize("react_format", ["text", "tools"])
def test_react_re_asks_answers_without_an_action(tmp_path: Path, twx: list[Any], gold: Gold,
                                                 react_format: str) -> None:
    from recode_graph.bench.react import NUDGE, TEXT_NUDGE

    nudge = TEXT_NUDGE if react_format == "text" else NUDGE
    bench(tmp_path / "a", "react", ToolCallingModel(messages=iter(()), gold=gold, chatter=2), twx, n=1,
          react_format=react_format)
    (rec,) = records(tmp_path / "a", "react-full").values()
    assert rec["won"] and rec["usage"]["calls"] == 3 * rec["steps"]  # two re-asks before every action
    assert sum(m["content"] == nudge for m in rec["messages"]) == 2 * rec["steps"]
    assert rec["settings"]["react_format"] == react_format
    bench(tmp_path / "b", "react", ToolCallingModel(messages=iter(()), gold=gold, chatter=100), twx, n=1)
    (rec,) = records(tmp_path / "b", "react-full").values()
    assert rec["usage"]["calls"] == 6 and rec["steps"] == 0  # first answer + 5 re-asks, then it gives up
    assert rec["reason"] == "the model stopped calling act before the task was done"


def test_react_text_format_shows_the_model_react_transcript(tmp_path: Path, twx: list[Any], gold: Gold) -> None:
    text = ToolCallingModel(messages=iter(()), gold=gold)
    bench(tmp_path / "text", "react", text, twx, n=1)  # the default: ReAct's own Action / Observation lines
    (rec,) = records(tmp_path / "text", "react-full").values()
    assert rec["won"] and not any(text.bound)  # no tool schema offered to the model
    last = text.prompts[-1]
    assert not any(isinstance(m, ToolMessage) or getattr(m, "tool_calls", None) for m in last)
    first_action = gold.plans[rec["task_id"]][0]
    assert any(isinstance(m, AIMessage) and m.content == f"Next: {first_action}\nAction: {first_action}" for m in last)
    assert sum(1 for m in last if str(m.content).startswith("Observation: ")) == rec["steps"] - 1
    assert "Action: <action>" in str(last[0].content)
    assert rec["messages"][3]["role"] == "tool"  # the agent's state still holds structured calls and results
    tools = ToolCallingModel(messages=iter(()), gold=gold)
    bench(tmp_path / "tools", "react", tools, twx, n=1, react_format="tools")
    (rec,) = records(tmp_path / "tools", "react-full").values()
    assert rec["won"] and tools.bound[-1] == ["act"]
    assert sum(1 for m in tools.prompts[-1] if isinstance(m, ToolMessage)) == rec["steps"] - 1


@pytest.mark.parametrize("react_format", ["text", "tools"])
def test_react_keeps_one_call_per_answer(tmp_path: Path, twx: list[Any], gold: Gold, react_format: str) -> None:
    model = ToolCallingModel(messages=iter(()), gold=gold, as_text=True, repeat=4)
    bench(tmp_path, "react", model, twx, n=1, react_format=react_format)
    (rec,) = records(tmp_path, "react-full").values()
    assert rec["won"] and rec["steps"] == len(rec["trajectory"])  # one action ran per answer
    answers = [m for m in rec["messages"] if m["role"] == "assistant"]
    assert all(m["content"] == "I go on." and len(m["tool_calls"]) == 1 for m in answers)
    assert all(m["answer_text"].count("```json") == 4 for m in answers)  # the record keeps what the model wrote
    assert not any("```" in str(m.content) for m in model.prompts[-1])  # the repeats never reach the model again


def test_split_text_call_reads_the_first_call_and_its_thought() -> None:
    from recode_graph.bench.react import split_text_call

    call = '{"name": "act", "arguments": {"action": "go to desk 1"}}'
    assert split_text_call(f"Desk first.\n```json\n{call}\n```\n```json\n{call}") == ("Desk first.", "go to desk 1")
    assert split_text_call(f"<tool_call>\n{call}\n</tool_call>") == ("", "go to desk 1")
    assert split_text_call('{{"name": "go to", "arguments": {"receptacle": "desk 2"}}}') == ("", "go to desk 2")
    assert split_text_call("Thought: the mug is here.\nAction: take mug 1 from desk 1\n") == (
        "Thought: the mug is here.", "take mug 1 from desk 1")
    assert split_text_call('act(action="open drawer 1")') == ("", "open drawer 1")
    assert split_text_call("I will look for the mug.") is None
    assert split_text_call('{"name": "act", "arguments": {"action": ""}}') is None


def test_react_format_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from recode_graph.bench.cli import main as bench_main
    from recode_graph.bench.config import BenchError

    with pytest.raises(BenchError, match="unknown react_format 'json'"):
        harness.make_config("twx", "test", 1, "react", "scripted:x", 1, tmp_path, react_format="json")
    with pytest.raises(SystemExit):
        bench_main(["--env", "twx", "--agent", "react", "--react-format", "Text", "--out", str(tmp_path)])
    assert "invalid choice: 'Text'" in capsys.readouterr().err


def test_react_episode_that_outgrows_the_context_is_a_failure(tmp_path: Path, twx: list[Any], gold: Gold) -> None:
    bench(tmp_path, "react", ToolCallingModel(messages=iter(()), gold=gold, overflow_after=2), twx, n=1)
    (rec,) = records(tmp_path, "react-full").values()
    assert rec["status"] == "failed" and rec["reason"].startswith("the conversation outgrew the model's context")
    assert rec["steps"] == 2 and rec["usage"]["calls"] == 2 and len(rec["trajectory"]) == 2


def test_react_stops_at_the_step_limit(tmp_path: Path) -> None:
    pytest.importorskip("textworld_express")
    env = load_environment("twx", **GAMES, step_limit=3)
    try:
        result = bench(tmp_path, "react", ToolCallingModel(messages=iter(()), forever="look around"), [env], n=1)
    finally:
        env.close()
    (rec,) = records(tmp_path, "react-full").values()
    assert rec["steps"] == 3 and rec["status"] == "failed" and rec["reason"] == "step limit reached (3)"
    assert result["summary"]["rows"][0]["reward_pct"] == 0.0


def test_cli_runs_alfworld_with_a_fixture_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("alfworld")
    argv = ["--env", "alfworld", "--split", "seen", "-n", "1", "--model", "scripted:alfworld_generic",
            "--out", str(tmp_path), "--no-progress", "--no-plots"]
    assert bench_cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "1 episodes run, 0 already done" in text
    assert "| alfworld | seen | recode | scripted:alfworld_generic | 1/1 | 100.00 | 100.00 |" in text
    assert text.rstrip().splitlines()[-1] == (f"wrote summary.md, summary.json in {tmp_path}/; one record per episode "
                                              f"in {tmp_path}/<env>-<split>/episodes/<agent>/")
    assert (tmp_path / "commands.txt").read_text().startswith("recode bench --env alfworld --split seen -n 1")
    assert bench_cli.main(argv) == 0 and "0 episodes run, 1 already done" in capsys.readouterr().out
    report = ["--env", "alfworld", "--out", str(tmp_path), "--report-only", "--no-plots"]
    assert bench_cli.main(report) == 0
    capsys.readouterr()
    assert bench_cli.main([*report, "--price-as", "gpt-4o-mini"]) == 0
    assert "USD/episode at gpt-4o-mini prices" in capsys.readouterr().out
    assert json.loads((tmp_path / "summary.json").read_text())["priced_as"] == "gpt-4o-mini"
    assert bench_cli.main([*report, "--price-as", "nope"]) == 2
    assert capsys.readouterr().err.startswith("recode bench: error: --price-as 'nope' is not in the price table")


# -- scale-out on a LangGraph server ------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(langgraph_server: str) -> str:
    return langgraph_server


@pytest.mark.slow
def test_server_episodes_match_local_ones(server: str, tmp_path: Path) -> None:
    pytest.importorskip("alfworld")
    from recode_graph.models.scripted import load_fixture

    common = {"env": "alfworld", "split": "seen", "n": 2, "agent": "recode", "concurrency": 2, "progress": False,
              "plots": False}
    remote = harness.run_bench(model="scripted:alfworld_generic", out_dir=tmp_path / "remote", server=server,
                               **common)
    local = harness.run_bench(model=load_fixture("alfworld_generic"), out_dir=tmp_path / "local",
                              model_name="scripted:alfworld_generic", **common)
    assert remote["ran"] == 2
    folder = "alfworld-seen/episodes/recode"
    for path in sorted((tmp_path / "local" / folder).glob("*.json")):
        mine = json.loads(path.read_text())
        theirs = json.loads((tmp_path / "remote" / folder / path.name).read_text())
        assert theirs["thread_id"] and theirs["settings"]["server"] == server
        if mine["status"] == "error":  # the fixture has no answer for some repairs: an error on both sides
            assert theirs["status"] == "error"
            continue
        for key in ("status", "score", "won", "steps", "usage", "tree_stats", "trajectory"):
            assert theirs[key] == mine[key], key
    assert remote["summary"]["rows"][0]["reward_pct"] == local["summary"]["rows"][0]["reward_pct"]


# -- fair baselines: ReAct's history window, how episodes ended ----------------------------------------
def test_react_history_window_keeps_the_prefix_for_window_calls() -> None:
    from langchain_core.messages import SystemMessage

    from recode_graph.bench.react import windowed

    def conversation(steps: int) -> list[BaseMessage]:
        out: list[BaseMessage] = [SystemMessage("sys"), HumanMessage("task")]
        for i in range(steps):
            out += [AIMessage(f"a{i}", tool_calls=[{"name": "act", "args": {"action": "x"}, "id": f"c{i}"}]),
                    ToolMessage(f"o{i}", tool_call_id=f"c{i}")]
        return out

    assert windowed(conversation(5), 3) == conversation(5)  # fewer than 2 windows: all of it
    assert windowed(conversation(9), 0) == conversation(9)
    shown = [m.content for m in windowed(conversation(6), 3)]
    assert shown == ["sys", "task", "(3 earlier steps are not shown.)", "a3", "o3", "a4", "o4", "a5", "o5"]
    prefixes = {tuple(m.content for m in windowed(conversation(n), 3)[:4]) for n in (6, 7, 8)}
    assert len(prefixes) == 1  # the same beginning for 3 calls in a row
    assert [m.content for m in windowed(conversation(9), 3)][2:4] == ["(6 earlier steps are not shown.)", "a6"]


def test_react_with_a_window_sees_recent_steps_and_records_everything(tmp_path: Path) -> None:
    pytest.importorskip("textworld_express")
    seen: list[int] = []

    class Counting(ToolCallingModel):
        def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:
            seen.append(sum(observed(m) for m in messages))
            return super()._generate(messages, stop, run_manager, **kwargs)

    env = load_environment("twx", **GAMES, step_limit=12)
    try:
        bench(tmp_path, "react", Counting(messages=iter(()), forever="look around"), [env], n=1, history=3)
    finally:
        env.close()
    (rec,) = records(tmp_path, "react").values()
    assert seen == [0, 1, 2, 3, 4, 5, 3, 4, 5, 3, 4, 5]  # never more than 2 * 3 - 1 steps shown
    assert rec["steps"] == 12 and rec["settings"]["history"] == 3 and rec["ended"] == "step limit"
    assert sum(m["role"] == "tool" for m in rec["messages"]) == 12  # the record keeps the whole conversation
    summary = (tmp_path / "summary.md").read_text()
    assert "| twx | test | react | scripted | step limit 1 |" in summary


def test_endings_name_how_each_episode_ended() -> None:
    from recode_graph.bench.endings import describe, ending, tally

    records = [{"won": True, "reason": ""}, {"status": "error", "reason": "model server unreachable"},
               {"status": "failed", "reason": "step limit reached (50)"},
               {"status": "failed", "reason": "the plan finished before the task was completed"},
               {"status": "failed", "reason": "no valid code after 6 answers; last: SyntaxError"},
               {"status": "failed", "reason": "  line 1: x = max([])\nValueError: max() arg is an empty sequence"},
               {"status": "failed", "reason": "something new"}]
    assert [ending(r) for r in records] == ["success", "error", "step limit", "plan ran out", "no valid code",
                                            "code failed", "other"]
    assert describe(tally(records * 2)) == ("success 2, step limit 2, plan ran out 2, no valid code 2, "
                                            "code failed 2, error 2, other 2")


def test_taxonomy_counts_refusals_and_repeats_per_agent(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("taxonomy", Path(__file__).parents[1] / "benchmarks" / "taxonomy.py")
    assert spec and spec.loader
    taxonomy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(taxonomy)
    kitchen = ("look around", "This room is called the kitchen.")
    steps = [kitchen, ("focus on lamp", "No known action matches that input."),
             ("go to garden", "It's not clear how to get there from here."), kitchen, kitchen]
    record = {"won": False, "status": "failed", "reason": "step limit reached (5)", "messages": [{}, {"content": ""}],
              "trajectory": [{"name": "act", "args": {"action": a}, "output": o} for a, o in steps]}
    folder = tmp_path / "sciworld-unseen" / "episodes" / "react-snap"
    folder.mkdir(parents=True)
    (folder / "t.json").write_text(json.dumps(record))
    (row,) = taxonomy.folder_table(folder)
    assert "| react-snap | 1 | 0 | step limit 1 | 5 | 2 (40%) | 2 (40%) |" in row
    assert "focus on: no such action or object here 1" in row and "go to: not next to this room 1" in row
