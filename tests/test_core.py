"""The ReCode loop end to end with scripted models and real LangChain tools."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import pytest
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from recode_graph import ScriptedChatModel, create_recode_agent, expansion

CFG = {"configurable": {"thread_id": "t1"}}


def make_tools(log: list[tuple[str, Any]]) -> list[Any]:
    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        log.append(("add", (a, b)))
        return a + b

    @tool
    def shout(text: str) -> str:
        """Upper-case a text."""
        log.append(("shout", text))
        return text.upper()

    return [add, shout]


def multi_level_model(**kw: Any) -> ScriptedChatModel:
    return ScriptedChatModel(by_call={
        "solve": expansion("plan", "total = compute_total(3, 4)\nmsg = make_message(total)\nfinal_answer(msg)"),
        "compute_total": expansion("add", "total = add(a=3, b=4)\ntotal = add(total, 1)\nprint('sum', total)"),
        "make_message": expansion("shout", 'msg = shout(f"total is {total}")'),
    }, **kw)


def test_multi_level_expansion_with_tools_and_final_answer() -> None:
    log: list[tuple[str, Any]] = []
    model = multi_level_model()
    graph = create_recode_agent(model, tools=make_tools(log), checkpointer=InMemorySaver())
    out = graph.invoke({"instruction": "add 3 and 4, plus one, and shout it"}, CFG)
    assert out["status"] == "success" and out["answer"] == "TOTAL IS 8"
    assert [(s["name"], s["args"], s["output"]) for s in out["trajectory"]] == [
        ("add", {"a": 3, "b": 4}, 7), ("add", {"a": 7, "b": 1}, 8),
        ("shout", {"text": "total is 8"}, "TOTAL IS 8"), ("final_answer", {"text": "TOTAL IS 8"}, None)]
    assert log == [("add", (3, 4)), ("add", (7, 1)), ("shout", "total is 8")]
    tree = out["tree"]
    assert tree["0"]["children"] == ["1", "2", "3"] and tree["0"]["status"] == "done"
    assert all(n["status"] == "done" for n in tree.values())
    placeholder = next(n for n in tree.values() if n["code"].startswith("total = compute_total"))
    assert placeholder["status"] == "done" and placeholder["thought"] == "add" and len(placeholder["children"]) == 3
    leaf = tree[placeholder["children"][2]]
    assert leaf["depth"] == 2 and leaf["stdout"] == "sum 8\n"
    assert out["usage"]["calls"] == 3 and out["usage"]["input_tokens"] > 0 and out["usage"]["output_tokens"] > 0
    assert sum(n.get("usage", {}).get("calls", 0) for n in tree.values()) == 3
    # the expansion prompt shows the call and the values of the variables it uses, not the history
    prompt = next(p for p in model.calls if "Expand: msg = make_message(total)" in p)
    assert "  total = 8" in prompt and "compute_total(3, 4)" not in prompt.split("Expand: msg")[1]
    # the static part of the prompt is byte-identical across calls
    systems = {p.split("Expand: ")[0] for p in model.calls}
    assert len({s[: s.rfind("Examples:")] for s in systems}) == 1


def test_malformed_answers_are_reasked_with_hints() -> None:
    good = expansion("ok", "final_answer('done')")
    model = ScriptedChatModel(responses=[
        "I will just answer in prose.",
        expansion("oops", "x = (1,"),
        expansion("def", "def helper():\n    pass\nhelper()"),
        expansion("import", "import os"),
        expansion("break", "x = 1\nbreak"),
        good,
    ])
    out = create_recode_agent(model).invoke({"instruction": "say done"})
    assert out["status"] == "success" and out["answer"] == "done"
    assert out["tree"]["0"]["rewrites"] == 5
    hints = [p.split("Your previous answer was rejected:")[1] for p in model.calls[1:]]
    assert "<execute>" in hints[0] and "syntax error" in hints[1] and "def" in hints[2] and "Imports" in hints[3]
    assert "'break' outside loop" in hints[4]


def test_a_fenced_code_block_without_tags_is_accepted() -> None:
    model = ScriptedChatModel(responses=["Sure.\n```python\nfinal_answer('fenced')\n```"])
    assert create_recode_agent(model).invoke({"instruction": "x"})["answer"] == "fenced"


def test_tags_inside_a_fence_without_the_closing_tag_are_accepted() -> None:
    answer = "```python\n<think>t</think>\n<execute>\nx = 'ok'\nfinal_answer(x)\n```\n\nThis code answers."
    model = ScriptedChatModel(responses=[answer])
    assert create_recode_agent(model).invoke({"instruction": "x"})["answer"] == "ok"


def test_rewrite_limit_fails_the_episode_clearly() -> None:
    model = ScriptedChatModel(responses=[f"no code, try {i}" for i in range(10)])
    out = create_recode_agent(model, max_rewrites=2, max_repairs=0).invoke({"instruction": "x"})
    assert out["status"] == "failed" and "no valid code after 3 answers" in out["reason"]
    assert out["usage"]["calls"] == 3


def test_the_same_rejected_answer_twice_ends_the_re_asking() -> None:
    model = ScriptedChatModel(responses=["<execute>\ndef f():\n    pass\n</execute>"] * 10)
    out = create_recode_agent(model, max_rewrites=5, max_repairs=0).invoke({"instruction": "x"})
    assert out["status"] == "failed" and out["usage"]["calls"] == 2
    assert "the same invalid answer twice; last: Do not define functions" in out["reason"]


def test_an_insisted_answer_with_an_undefined_name_runs_and_the_failing_statement_is_repaired() -> None:
    log: list[tuple[str, Any]] = []
    stubborn = expansion("copied", "total = add(a=1, b=2)\nfinal_answer(str(total + items))")
    model = ScriptedChatModel(by_call={"solve": [stubborn, stubborn],
                                       "repair:final_answer": expansion("fix", "final_answer(str(total))")})
    out = create_recode_agent(model, tools=make_tools(log)).invoke({"instruction": "add"})
    assert "Your code reads items, which is not defined" in model.calls[1]  # hinted once
    assert out["status"] == "success" and out["answer"] == "3" and log == [("add", (1, 2))]  # the prefix ran
    assert any("NameError: name 'items' is not defined" in p for p in model.calls[2:])  # targeted repair


def test_runtime_error_is_repaired_with_a_short_traceback() -> None:
    model = ScriptedChatModel(by_call={
        "solve": expansion("pick", "items = ['a', 'b']\nchoice = items[5]\nfinal_answer(choice)"),
        "repair:choice": expansion("fix index", "choice = items[-1]"),
    })
    out = create_recode_agent(model).invoke({"instruction": "pick the last"})
    assert out["status"] == "success" and out["answer"] == "b"
    repair_prompt = next(p for p in model.calls if "Repair: choice = items[5]" in p)
    assert "IndexError: list index out of range" in repair_prompt and "items = ['a', 'b']" in repair_prompt
    node = next(n for n in out["tree"].values() if n["code"] == "choice = items[5]")
    assert node["mode"] == "repair" and node["repairs"] == 1 and node["status"] == "done"


def test_name_error_on_a_plain_variable_is_a_repair_not_a_placeholder() -> None:
    model = ScriptedChatModel(by_call={  # assigned only on a branch not taken: a NameError at run time
        "solve": expansion("use", "if len(instruction) > 5:\n    value = 1\nfinal_answer(value)"),
        "repair:final_answer": expansion("define it", "final_answer('recovered')"),
    })
    out = create_recode_agent(model).invoke({"instruction": "x"})
    assert out["answer"] == "recovered"
    assert any("NameError: name 'value' is not defined" in p for p in model.calls)


def test_reading_a_variable_that_does_not_exist_is_rejected_before_it_runs() -> None:
    log: list[tuple[str, Any]] = []
    model = ScriptedChatModel(by_call={"solve": [
        expansion("copied", "total = add(a=1, b=2)\nfor item in items:\n    total = add(total, item)"),
        expansion("fixed", "total = add(a=1, b=2)\nfinal_answer(str(total))"),
    ]})
    out = create_recode_agent(model, tools=make_tools(log)).invoke({"instruction": "add"})
    assert out["status"] == "success" and out["answer"] == "3" and log == [("add", (1, 2))]  # nothing ran twice
    assert "Your code reads items, which is not defined" in model.calls[1]
    assert "(variables: instruction, observation)" in model.calls[1] and out["tree"]["0"]["rewrites"] == 1


def test_missing_assignment_of_a_placeholder_triggers_repair() -> None:
    model = ScriptedChatModel(by_call={
        "solve": expansion("", "value = get_value()\nfinal_answer(value)"),
        "get_value": expansion("", "print('forgot to assign')"),
        "repair:get_value": expansion("", "value = 42"),
    })
    out = create_recode_agent(model).invoke({"instruction": "x"})
    assert out["status"] == "success" and out["answer"] == "42"
    assert any("finished without assigning value" in p for p in model.calls)


def test_depth_limit_ends_the_branch_with_a_clear_status() -> None:
    def responder(prompt: str) -> str:
        from recode_graph.models.scripted import called_name

        name = called_name(prompt)
        depth = int(name.rsplit("_", 1)[1]) + 1 if name.startswith("level_") else 0
        return expansion("deeper", f"level_{depth}()")

    out = create_recode_agent(ScriptedChatModel(responder=responder), max_depth=3, max_repairs=0).invoke(
        {"instruction": "x"})
    assert out["status"] == "failed" and "depth limit reached (3)" in out["reason"]
    assert max(n["depth"] for n in out["tree"].values()) == 3
    assert out["usage"]["calls"] == 3


def test_calling_the_placeholder_being_expanded_is_rejected() -> None:
    model = ScriptedChatModel(by_call={
        "solve": expansion("", "r = do_it(instruction)\nfinal_answer(r)"),
        "do_it": [expansion("", "r = do_it(instruction)"), expansion("", "r = instruction.upper()")],
    })
    out = create_recode_agent(model).invoke({"instruction": "x"})
    assert out["status"] == "success" and out["answer"] == "X"
    assert any("the very call being expanded" in p for p in model.calls)


def test_sandbox_escape_in_generated_code_keeps_the_episode_alive() -> None:
    model = ScriptedChatModel(responses=[
        expansion("", "x = ().__class__.__bases__[0].__subclasses__()"),
        expansion("", "import os\nos.system('echo pwned')"),
        expansion("", "while True: pass\n"),
        expansion("", "final_answer('survived')"),
    ])
    from recode_graph.sandbox import Limits

    out = create_recode_agent(model, limits=Limits(max_lines=50_000)).invoke({"instruction": "x"})
    assert out["status"] == "success" and out["answer"] == "survived"
    assert any("BudgetExceeded" in p for p in model.calls)


def test_tool_errors_become_repairs_and_bad_arguments_are_reported() -> None:
    @tool
    def divide(a: float, b: float) -> float:
        """Divide a by b."""
        return a / b

    model = ScriptedChatModel(by_call={
        "solve": expansion("", "q = divide(1, 0)\nfinal_answer(q)"),
        "repair:divide": [expansion("", "q = divide(1, 2, 3)"), expansion("", "q = divide(a=1, b=4)")],
    })
    out = create_recode_agent(model, tools=[divide], max_repairs=3).invoke({"instruction": "x"})
    assert out["answer"] == "0.25"
    assert any("ZeroDivisionError" in p for p in model.calls)
    assert any("takes 2 argument(s) (a, b), 3 given" in p for p in model.calls)


def test_two_threads_with_different_tools_do_not_mix() -> None:
    def agent(tag: str) -> Any:
        @tool
        def label(text: str) -> str:
            """Label a text."""
            return f"{tag}:{text}"

        code = "out = []\nfor i in range(200):\n    out.append(label(str(i)))\n    print(i)\nfinal_answer(out[-1])"
        return create_recode_agent(ScriptedChatModel(responses=[expansion("", code)], latency=0.01),
                                   tools=[label], checkpointer=InMemorySaver())

    results: dict[str, Any] = {}

    def run(tag: str) -> None:
        results[tag] = agent(tag).invoke({"instruction": tag}, {"configurable": {"thread_id": tag}})

    threads = [threading.Thread(target=run, args=(t,)) for t in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for tag in ("A", "B"):
        out = results[tag]
        assert out["answer"] == f"{tag}:199"
        assert all(s["output"].startswith(f"{tag}:") for s in out["trajectory"] if s["name"] == "label")
        assert out["variables"]["out"][0] == f"{tag}:0"
        loop = next(n for n in out["tree"].values() if n["code"].startswith("for i"))
        assert loop["stdout"].count("\n") == 200 and loop["stdout"].startswith("0\n1\n")


@pytest.mark.parametrize("saver", ["memory", "sqlite"])
def test_state_round_trips_through_the_checkpointer_after_every_step(saver: str, tmp_path: Any) -> None:
    if saver == "memory":
        checkpointer: Any = InMemorySaver()
    else:
        checkpointer = SqliteSaver(sqlite3.connect(tmp_path / "cp.sqlite", check_same_thread=False))
    graph = create_recode_agent(multi_level_model(), tools=make_tools([]), checkpointer=checkpointer)
    streamed = list(graph.stream({"instruction": "go"}, CFG, stream_mode="values"))
    assert len(streamed) >= 10
    reader = graph
    if saver == "sqlite":  # read back through a fresh connection
        fresh = SqliteSaver(sqlite3.connect(tmp_path / "cp.sqlite", check_same_thread=False))
        reader = create_recode_agent(multi_level_model(), tools=make_tools([]), checkpointer=fresh)
    history = [s.values for s in reversed(list(reader.get_state_history(CFG)))]
    stored = [v for v in history if v.get("tree")]  # checkpoints after start
    assert stored == [v for v in streamed if v.get("tree")]
    assert stored[-1]["status"] == "success" and stored[-1]["answer"] == "TOTAL IS 8"


def test_custom_stream_draws_the_tree_and_messages_stream_tokens() -> None:
    graph = create_recode_agent(multi_level_model(), tools=make_tools([]))
    events = [e for e in graph.stream({"instruction": "go"}, stream_mode="custom")]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "node_added" and kinds[-1] == "finished"
    assert {"expanded", "executed", "action", "observation"} <= set(kinds)
    added = [e for e in events if e["event"] == "node_added"]
    assert len(added) == 8 and added[1]["parent"] == "0"
    chunks = [m for m, _meta in graph.stream({"instruction": "go"}, stream_mode="messages")]
    assert chunks and "<execute>" in "".join(str(c.content) for c in chunks)


@pytest.mark.parametrize("kwargs,message", [
    ({"approve": "sometimes"}, "approve: unknown tool or mode .sometimes."),
    ({"max_depth": 0}, "max_depth"),
    ({"max_repairs": -1}, "max_repairs"),
    ({"tools": [lambda x: x]}, "docstring"),
])
def test_bad_arguments_give_one_line_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_recode_agent(ScriptedChatModel(responses=[]), **kwargs)


def test_reserved_tool_name_and_empty_input_are_rejected() -> None:
    @tool
    def run(action: str) -> str:
        """Shadow the environment primitive."""
        return action

    with pytest.raises(ValueError, match="reserved"):
        create_recode_agent(ScriptedChatModel(responses=[]), tools=[run])
    with pytest.raises(ValueError, match="instruction"):
        create_recode_agent(ScriptedChatModel(responses=[])).invoke({"instruction": "  "})


def test_checkpoint_bytes_grow_linearly_with_the_tree(tmp_path: Any) -> None:
    from recode_graph.bench.overhead import run_once

    small = run_once(60, "sqlite", tmp_path, 0)
    large = run_once(200, "sqlite", tmp_path, 1)
    per_small, per_large = small["bytes"] / small["nodes"], large["bytes"] / large["nodes"]
    assert small["bytes"] < 300_000
    assert per_large < 1.5 * per_small  # quadratic storage would give about 3.5x


def test_a_new_episode_on_a_finished_thread_starts_a_fresh_tree() -> None:
    model = ScriptedChatModel(responder=lambda p: expansion("", "final_answer(instruction.upper())"))
    graph = create_recode_agent(model, checkpointer=InMemorySaver())
    first = graph.invoke({"instruction": "one"}, CFG)
    second = graph.invoke({"instruction": "two"}, CFG)
    assert first["answer"] == "ONE" and second["answer"] == "TWO"
    assert len(second["tree"]) == len(first["tree"]) and len(second["trajectory"]) == 1
    assert second["usage"]["calls"] == 1 and second["variables"]["instruction"] == "two"


@pytest.mark.timeout(120)
def test_many_concurrent_async_episodes_do_not_starve_the_executor() -> None:
    import asyncio

    @tool
    def bump(x: int) -> int:
        """Add one."""
        return x + 1

    model = ScriptedChatModel(by_call={"solve": expansion("", "v = part(1)\nfinal_answer(v)"),
                                       "part": expansion("", "v = bump(1)\nv = bump(v)")}, latency=0.05)
    graph = create_recode_agent(model, tools=[bump], checkpointer=InMemorySaver())

    async def run_all() -> list[Any]:
        return await asyncio.gather(*[graph.ainvoke({"instruction": "x"}, {"configurable": {"thread_id": f"a{i}"}})
                                      for i in range(24)])  # more episodes than the loop's default threads

    outs = asyncio.run(run_all())
    assert [o["answer"] for o in outs] == ["3"] * 24
    assert all([s["output"] for s in o["trajectory"][:2]] == [2, 3] for o in outs)


def test_a_regex_match_survives_a_resume_in_a_fresh_agent(tmp_path: Any) -> None:
    from langgraph.types import Command

    def model() -> ScriptedChatModel:
        return ScriptedChatModel(by_call={
            "solve": expansion("match", "m = re.search(r'(\\d+) apples', instruction)\ncount = read_count(m)\n"
                                        "final_answer(str(count + 1))"),
            "read_count": expansion("group", "count = int(m.group(1))"),
        })

    cfg = {"configurable": {"thread_id": "regex"}}
    with sqlite3.connect(tmp_path / "cp.db", check_same_thread=False) as conn:
        first = create_recode_agent(model(), checkpointer=SqliteSaver(conn), approve="expansions")
        first.invoke({"instruction": "I have 41 apples"}, cfg)
        paused = first.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)  # approve solve's plan
        assert "__interrupt__" in paused and "m.group(1)" in str(paused["__interrupt__"])
        # A new agent has no in-memory values: the match comes back from the checkpoint itself.
        fresh = create_recode_agent(model(), checkpointer=SqliteSaver(conn), approve="expansions")
        out = fresh.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    assert out["status"] == "success" and out["answer"] == "42"
    assert out["variables"]["count"] == 41 and out["variables"]["m"]["$re.Match"]["string"] == "I have 41 apples"


def test_session_objects_are_bounded_and_dropped() -> None:
    from recode_graph.deps import SessionObjects

    store = SessionObjects(max_sessions=2)
    marker = object()
    store.put("a", {"m": marker})
    store.put("b", {"m": 1j})
    assert store.get("a")["m"] is marker  # touching "a" makes "b" the oldest
    store.put("c", {"m": 2j})
    assert len(store) == 2 and store.get("b") == {} and store.get("a")["m"] is marker
    store.put("a", {})  # nothing left to keep: the session's entry goes
    store.drop("c")
    assert len(store) == 0
