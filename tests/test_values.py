"""Any value generated code keeps in a variable survives checkpoints and a resume in a new process
unchanged (ints of any size, non-finite floats, -0.0, sets, dicts with any keys, regex matches), or the
statement that makes it fails with an error the model repairs; nothing raises out of ``invoke``."""

from __future__ import annotations

import json
import math
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, own_database
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.sandbox.plain import restore

CHILD = Path(__file__).with_name("values_child.py")
KEEP = """\
big = math.factorial(25)
neg = -2 ** 100
huge = 7 ** 20000
edge = [2 ** 63 - 1, -2 ** 63, 2 ** 63, -2 ** 63 - 1, 2 ** 64, -(2 ** 64)]
floats = [float('nan'), float('inf'), -float('inf'), -0.0, 1e308, 5e-324]
nested = {'a': [1, (2, 3), {4, 5}], 1: {'deep': [[2 ** 70]]}, (1, 'x'): frozenset({2 ** 65}), None: True, 2.5: '$x'}
lookalike = {'$int': '5', '$set': [1], '$re.Pattern': 'x', 'flags': 0}
text = 'caf\\u00e9 \\u2603 \\U0001F600 \\\\ud800'
m = re.search(r'(?P<n>\\d+)', 'n 42')
p = re.compile(r'[a-z]+', re.I)
ok = verify_values()
final_answer(ok)"""
CHECK = """\
ok = repr([big == math.factorial(25), neg == -2 ** 100, huge == 7 ** 20000, huge % 1000003,
           edge == [2 ** 63 - 1, -2 ** 63, 2 ** 63, -2 ** 63 - 1, 2 ** 64, -(2 ** 64)], repr(floats),
           nested == {'a': [1, [2, 3], {4, 5}], 1: {'deep': [[2 ** 70]]}, (1, 'x'): {2 ** 65}, None: True, 2.5: '$x'},
           lookalike['$int'], lookalike['flags'], len(text), m.group('n'), m.span(), p.findall('Ab cd 1')])"""
ANSWER = repr([True, True, True, 7 ** 20000 % 1000003, True, "[nan, inf, -inf, -0.0, 1e+308, 5e-324]", True, "5", 0,
               len("caf\u00e9 \u2603 \U0001F600 \\ud800"), "42", (2, 4), ["Ab", "cd"]])


def expected_values() -> dict[str, Any]:
    """The variables as a statement after a checkpoint sees them (tuples come back as lists, tuple keys as
    tuples)."""
    return {"big": math.factorial(25), "neg": -2 ** 100, "huge": 7 ** 20000,
            "edge": [2 ** 63 - 1, -2 ** 63, 2 ** 63, -2 ** 63 - 1, 2 ** 64, -(2 ** 64)],
            "floats": [math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324],
            "nested": {"a": [1, [2, 3], {4, 5}], 1: {"deep": [[2 ** 70]]}, (1, "x"): {2 ** 65}, None: True,
                       2.5: "$x"},
            "lookalike": {"$int": "5", "$set": [1], "$re.Pattern": "x", "flags": 0},
            "text": "caf\u00e9 \u2603 \U0001F600 \\ud800", "m": re.search(r"(?P<n>\d+)", "n 42")}


def values_agent(checkpointer: Any) -> Any:
    """Keeps the values, then stops at the approval of ``verify_values()``'s expansion."""
    model = ScriptedChatModel(by_call={"solve": expansion("keep values", KEEP),
                                       "verify_values": expansion("compare", CHECK)})
    return create_recode_agent(model, checkpointer=checkpointer, approve="expansions")


def approve() -> Command:
    return Command(resume={"decisions": [{"type": "approve"}]})


def keep_and_stop(agent: Any, thread: str) -> dict[str, Any]:
    cfg = {"configurable": {"thread_id": thread}}
    agent.invoke({"instruction": "keep these"}, cfg)  # the root's expansion waits for approval
    out = agent.invoke(approve(), cfg)  # runs the statements; stops at verify_values()'s expansion
    assert out["status"] == "running" and out["__interrupt__"], out.get("reason")
    variables = out["variables"]
    json.dumps(variables, allow_nan=False)  # the state is plain JSON: Studio and the server API show it
    assert variables["big"] == {"$int": "15511210043330985984000000"} and variables["edge"][0] == 2 ** 63 - 1
    assert variables["huge"]["$int"].startswith("0x") and variables["floats"][0] == {"$float": "nan"}
    return variables


def same(got: Any, want: Any) -> bool:
    """Equal, and of the same types all the way down (nan, -0.0 and True/1 told apart)."""
    if isinstance(want, re.Match):
        return repr(got) == repr(want)
    if isinstance(want, float):
        return type(got) is float and repr(got) == repr(want)
    if isinstance(want, list):
        return type(got) is list and len(got) == len(want) and all(map(same, got, want))
    if isinstance(want, dict):
        return (type(got) is dict and [(type(k), k) for k in got] == [(type(k), k) for k in want]
                and all(same(got[k], want[k]) for k in want))
    return type(got) is type(want) and got == want


def check_same(variables: dict[str, Any]) -> None:
    for name, value in expected_values().items():
        assert same(restore(variables[name]), value), name


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A database of this test's own on the real Postgres server, dropped afterwards."""
    with own_database("recode_values") as url:
        yield url


def resume_in_child(db: str, thread: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(CHILD), "--db", db, "--thread", thread], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_values_survive_an_in_memory_checkpoint() -> None:
    saver = InMemorySaver()
    check_same(keep_and_stop(values_agent(saver), "mem"))
    out = values_agent(saver).invoke(approve(), {"configurable": {"thread_id": "mem"}})  # a new agent resumes
    assert out["status"] == "success" and out["answer"] == ANSWER
    check_same(out["variables"])


def test_values_survive_sqlite_and_a_resume_in_a_new_process(tmp_path: Path) -> None:
    db = str(tmp_path / "values.sqlite")
    check_same(keep_and_stop(values_agent(SqliteSaver(sqlite3.connect(db, check_same_thread=False))), "sq"))
    out = resume_in_child(db, "sq")
    assert out == {"status": "success", "answer": ANSWER, "same": sorted(expected_values())}


def test_values_survive_postgres_and_a_resume_in_a_new_process(pg_url: str) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg import Connection
    from psycopg.rows import dict_row

    with Connection.connect(pg_url, autocommit=True, prepare_threshold=0, row_factory=dict_row) as conn:
        saver = PostgresSaver(conn)  # type: ignore[arg-type]
        saver.setup()
        check_same(keep_and_stop(values_agent(saver), "pg"))
    out = resume_in_child(pg_url, "pg")
    assert out == {"status": "success", "answer": ANSWER, "same": sorted(expected_values())}


@pytest.mark.parametrize("saver", ["memory", "sqlite"])
def test_big_ints_in_tool_calls_and_the_trajectory(saver: str, tmp_path: Path) -> None:
    from langchain_core.tools import tool

    @tool
    def double(n: int) -> int:
        """Double a number."""
        return n * 2

    @tool
    def members(items: list[int]) -> dict[str, Any]:
        """Describe a list of numbers."""
        return {"count": len(items), "top": max(items), "as_set": set(items)}

    code = ("x = double(2 ** 70)\ninfo = members([2 ** 80, -3, 2 ** 80])\n"
            "final_answer(str([x == 2 ** 71, info['top'] == 2 ** 80, info['as_set'] == {2 ** 80, -3}]))")
    cp: Any = (InMemorySaver() if saver == "memory"
               else SqliteSaver(sqlite3.connect(str(tmp_path / "t.sqlite"), check_same_thread=False)))
    agent = create_recode_agent(ScriptedChatModel(responses=[expansion("", code)]), tools=[double, members],
                                checkpointer=cp)
    out = agent.invoke({"instruction": "x"}, {"configurable": {"thread_id": "t"}})
    assert out["status"] == "success" and out["answer"] == "[True, True, True]"
    first, second = out["trajectory"][:2]
    assert first["args"] == {"n": {"$int": str(2 ** 70)}} and first["output"] == {"$int": str(2 ** 71)}
    assert restore(second["output"]) == {"count": 3, "top": 2 ** 80, "as_set": {2 ** 80, -3}}


@pytest.mark.parametrize("executor", ["workers", "inprocess"])
def test_unstorable_data_fails_the_statement_and_is_repaired(executor: str) -> None:
    deep = "[" * 22 + "1" + "]" * 22  # one statement: each statement is a node, repaired on its own
    bad = expansion("", f"x, deep = '\\ud800', {deep}\nfinal_answer('never')")
    good = expansion("", "x = 'fine'\nfinal_answer(x)")
    model = ScriptedChatModel(responses=[bad, good])
    out = create_recode_agent(model, checkpointer=InMemorySaver(), executor=executor).invoke(
        {"instruction": "x"}, {"configurable": {"thread_id": "u"}})
    assert out["status"] == "success" and out["answer"] == "fine"
    repair = model.calls[1]  # the repair prompt says what cannot be stored and why
    assert "Repair:" in repair and "a variable cannot be stored" in repair and "lone surrogate" in repair
    assert "nested more than 20 levels" in repair


def test_a_huge_int_is_shown_to_the_model_without_breaking_the_prompt() -> None:
    model = ScriptedChatModel(by_call={"solve": expansion("", "n = 7 ** 20000\nr = last_digits(n)\nfinal_answer(r)"),
                                       "last_digits": expansion("", "r = str(n % 1000)")})
    out = create_recode_agent(model, checkpointer=InMemorySaver()).invoke(
        {"instruction": "x"}, {"configurable": {"thread_id": "h"}})
    assert out["status"] == "success" and out["answer"] == str(7 ** 20000 % 1000)
    assert "n = <int of 56148 bits: 0x" in model.calls[1]


def test_a_million_key_dict_through_a_checkpoint() -> None:
    code = "d = dict(zip(range(1000000), range(1000000)))\nfinal_answer(str(len(d)))"
    out = create_recode_agent(ScriptedChatModel(responses=[expansion("", code)]), checkpointer=InMemorySaver()
                              ).invoke({"instruction": "x"}, {"configurable": {"thread_id": "big"}})
    assert out["status"] == "success" and out["answer"] == "1000000"
    assert out["variables"]["d"]["$dict"]["keys"][-1] == 999_999  # timings: python -m recode_graph.bench.values
