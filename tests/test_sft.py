"""``recode export-sft``: chat examples from the top benchmark episodes, for ReCode and the ReAct baseline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from recode_graph.tools import load_environment
from test_bench import GAMES, Gold, ToolCallingModel  # sibling test module (pytest puts tests/ on sys.path)

from recode_graph.bench import harness
from recode_graph.bench.sample import stratified_sample
from recode_graph.bench.sft import REJECTED_MARK, estimate_tokens, export, main, recode_examples, strip_examples
from recode_graph.engine import prompts


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """ReCode (one task sabotaged) and ReAct on the same 4 twx tasks."""
    pytest.importorskip("textworld_express")
    out = tmp_path_factory.mktemp("sft") / "bench"
    envs = [load_environment("twx", **GAMES)]
    envs.append(envs[0].spawn())
    try:
        ids = [t["task_id"] for t in stratified_sample(envs[0].list_tasks(), 4, 0, "twx")]
        gold = Gold(envs[0], ids)
        for agent, model in (("recode", gold.recode_model(sabotage=(ids[0],))),
                             ("react", ToolCallingModel(messages=iter(()), gold=gold))):
            harness.run_bench("twx", "test", 4, agent, model, 2, out, environments=envs, progress=False,
                              plots=False)
    finally:
        for env in envs:
            env.close()
    yield {"out": out, "ids": ids, "gold": gold}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_recode_pairs_are_expansions_without_examples(bench_dir: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "train.jsonl"
    rows = export(bench_dir["out"], target, top=0.5)
    examples = [e for e in lines(target) if e["meta"]["agent"] == "recode"]
    chosen = {e["meta"]["task_id"] for e in examples}
    assert len(chosen) == 2 and bench_dir["ids"][0] not in chosen  # top half: the sabotaged one is out
    assert all(e["meta"]["score"] == 1.0 for e in examples)
    assert len(examples) == 6  # three expansions per episode: solve and its two halves
    record = json.loads(next((bench_dir["out"] / "twx-test" / "episodes" / "recode").glob("*.json")).read_text())
    system = record["system_prompts"][0]
    for example in examples:
        sys_msg, user, assistant = example["messages"]
        assert [sys_msg["role"], user["role"], assistant["role"]] == ["system", "user", "assistant"]
        assert "Examples:" not in sys_msg["content"] and system.startswith(sys_msg["content"].rstrip())
        assert "Primitives:" in sys_msg["content"] and user["content"].startswith("Expand: ")
        assert assistant["content"].startswith("<think>") and assistant["content"].endswith("</execute>")
    heads = sorted(e["messages"][1]["content"].splitlines()[0] for e in examples)
    assert heads == sorted(["Expand: solve(instruction, observation)",
                            "Expand: observation = first_half(plan, observation)",
                            "Expand: observation = second_half(plan, observation)"] * 2)
    recode_row = next(r for r in rows if r["agent"] == "recode")
    assert (recode_row["episodes"], recode_row["pairs"]) == (2, 6)
    assert recode_row["tokens"] == sum(estimate_tokens(m["content"]) for e in examples for m in e["messages"])


def test_react_pairs_are_one_per_step(bench_dir: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "train.jsonl"
    export(bench_dir["out"], target, top=1.0)
    gold = bench_dir["gold"]
    examples = [e for e in lines(target) if e["meta"]["agent"] == "react"]
    assert len(examples) == sum(gold.wins_after[t] for t in bench_dir["ids"])
    for example in examples:
        messages = example["messages"]
        last = messages[-1]
        assert messages[0]["role"] == "system" and messages[1]["role"] == "user" and last["role"] == "assistant"
        call = last["tool_calls"][0]
        assert call["type"] == "function" and call["function"]["name"] == "act"
        step = sum(1 for m in messages if m["role"] == "tool")
        plan = gold.plans[example["meta"]["task_id"]]
        assert json.loads(call["function"]["arguments"]) == {"action": plan[step]}
        assert all(m["tool_call_id"] for m in messages if m["role"] == "tool")


def test_cli_prints_table_and_rejects_bad_input(bench_dir: dict[str, Any], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out.jsonl"
    assert main([str(bench_dir["out"]), "--top", "0.4", "--out", str(target)]) == 0
    text = capsys.readouterr().out
    assert "twx        recode          2       6" in text and "react" in text
    assert f"to {target}" in text and target.exists()
    assert main([str(bench_dir["out"]), "--top", "0", "--out", str(target)]) == 2
    assert main([str(tmp_path / "missing"), "--out", str(target)]) == 2
    assert main([str(tmp_path), "--out", str(target)]) == 2  # a directory without records
    err = capsys.readouterr().err
    assert "--top must be a fraction" in err and "not a directory" in err and "no episode records" in err
    assert main([str(bench_dir["out"]), "--agent", "react", "--out", str(target)]) == 0
    assert "recode" not in capsys.readouterr().out.split("\n", 1)[1]
    assert {e["meta"]["agent"] for e in lines(target)} == {"react"}
    assert main([str(bench_dir["out"]), "--agent", "codeact", "--out", str(target)]) == 2
    assert "no episodes of agent codeact under" in capsys.readouterr().err


def test_rejected_answers_are_left_out_and_examples_stripped() -> None:
    system = prompts.system_prompt(actions="- run(action): act", examples="Expand: solve(x)\nAnswer: ...")
    assert strip_examples(system) == system.split("\n\nExamples:")[0] + "\n"
    good = "<think>ok</think><execute>\nx = 1\n</execute>"
    episode = {"agent": "recode", "system_prompts": [system], "calls": [
        {"system": 0, "user": "Expand: solve(x)\nAnswer:", "assistant": "<execute>\ndef f(): pass\n</execute>"},
        {"system": 0, "user": f"Expand: solve(x)\n{REJECTED_MARK}\nno def\nAnswer:", "assistant": good},
        {"system": 0, "user": "Expand: g(x)\nAnswer:", "assistant": "no code at all"},
    ]}
    (only,) = list(recode_examples(episode))
    assert REJECTED_MARK in only[1]["content"]
    assert only[2]["content"] == "<think>ok</think>\n<execute>\nx = 1\n</execute>"
    assert "Examples:" not in only[0]["content"]
