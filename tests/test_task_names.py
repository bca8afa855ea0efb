"""Tool calls run as tasks with fixed names (``tool_call``, ``env_step``) whose results carry the call's content
digest (recode_graph.engine.tasks): the checkpoint's bookkeeping does not grow with the number of distinct calls,
and a recorded result, error or interrupt answer only ever goes to the call it belongs to."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphBubbleUp
from langgraph.graph import START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from recode_graph import ScriptedChatModel, create_recode_agent, expansion, side_effects
from recode_graph.engine.tasks import Step, run_tool
from recode_graph.engine.toolcall import ToolContext, analyse

# -- through the agent ----------------------------------------------------------------------------------------


@tool
def bump(value: int) -> int:
    """Add one."""
    return value + 1


def _bookkeeping(calls: int) -> tuple[set[str], set[str], int]:
    code = "\n".join(f"x{i} = bump({i})" for i in range(calls)) + "\nfinal_answer(str(x0))"
    saver = InMemorySaver()
    agent = create_recode_agent(ScriptedChatModel(responses=[expansion("", code)]), tools=[bump],
                                checkpointer=saver)
    config = {"configurable": {"thread_id": f"n{calls}"}}
    out = agent.invoke({"instruction": "go"}, config)
    assert out["answer"] == "1" and len(out["trajectory"]) == calls + 1
    checkpoint = saver.get_tuple(config).checkpoint  # type: ignore[union-attr]
    seen = checkpoint["versions_seen"]
    return set(seen), set(checkpoint["channel_versions"]), sum(len(v) for v in seen.values())


def test_checkpoint_bookkeeping_does_not_grow_with_the_number_of_distinct_calls() -> None:
    seen_2, versions_2, entries_2 = _bookkeeping(2)
    seen_12, versions_12, entries_12 = _bookkeeping(12)
    assert seen_2 == seen_12 and versions_2 == versions_12 and entries_2 == entries_12
    assert "tool_call" in seen_12 and not any(name.startswith("tool_call.") for name in seen_12)


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_a_tool_that_interrupts_resumes_with_its_own_answers(mode: str) -> None:
    asked: list[str] = []

    @tool
    def ask(question: str) -> str:
        """Ask a person."""
        asked.append(question)
        return f"{question}={interrupt(question)}"

    code = "a = ask('first')\nb = ask('second')\nfinal_answer(a + ' ' + b)"
    agent = create_recode_agent(ScriptedChatModel(responses=[expansion("", code)]), tools=[ask],
                                checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "ask"}}

    def run(value: Any) -> Any:
        return asyncio.run(agent.ainvoke(value, config)) if mode == "ainvoke" else agent.invoke(value, config)

    out = run({"instruction": "go"})
    assert [i.value for i in out["__interrupt__"]] == ["first"]
    out = run(Command(resume="1"))
    assert [i.value for i in out["__interrupt__"]] == ["second"]
    first = out["__interrupt__"][0]
    out = run(Command(resume={first.id: "2"}))  # by interrupt id, as a server resumes
    assert out["answer"] == "first=1 second=2"
    assert [s["output"] for s in out["trajectory"][:2]] == ["first=1", "second=2"]
    # each call runs up to its interrupt once under the fixed name (which records that it interrupts), then
    # under its own name: once to interrupt, once more with the answer
    assert asked == ["first"] * 3 + ["second"] * 3


def test_a_marked_call_next_to_replayed_calls_still_runs_at_most_once() -> None:
    sent: list[str] = []

    @tool
    def mail(to: str, idempotency_key: str) -> str:
        """Mail someone."""
        sent.append(idempotency_key)
        return f"mailed {to}"

    @tool
    def publish(text: str) -> str:
        """Publish a text (reviewed)."""
        return f"published {text}"

    code = "r = publish(mail('bob') + str(bump(1)) + mail('eve'))\nfinal_answer(r)"
    agent = create_recode_agent(ScriptedChatModel(responses=[expansion("", code)]),
                                tools=[side_effects(mail), bump, publish], checkpointer=InMemorySaver(),
                                approve={"publish"})
    config = {"configurable": {"thread_id": "marked"}}
    out = agent.invoke({"instruction": "go"}, config)
    assert out["__interrupt__"] and len(sent) == 2
    out = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config)
    assert out["answer"] == "published mailed bob2mailed eve" and len(sent) == 2 and len(set(sent)) == 2


# -- one node, calls in an order the test controls (model-written code need not repeat itself) ----------------


class S(TypedDict, total=False):
    seen: list[str]


ORDER: list[str] = []
RUNS: list[str] = []


@tool
def look(item: str) -> str:
    """Look at an item (fails on a 'bad' one)."""
    RUNS.append(item)
    if item.startswith("bad"):
        raise ValueError(f"cannot look at {item}")
    return f"{item}#{len(RUNS)}"


@tool
def ask_about(item: str) -> str:
    """Ask a person about an item."""
    RUNS.append(item)
    return f"{item}={interrupt(item)}"


STEP = Step({t.name: analyse(t) for t in (look, ask_about)}, ToolContext(state={}, tools=[look, ask_about]),
            None, "k")


def _work(tool_name: str, pause: bool) -> Any:
    def work(state: S) -> S:
        seen = []
        for n, item in enumerate(list(ORDER)):
            try:
                seen.append(str(run_tool(STEP, tool_name, {"item": item}, f"call{n}", "n")["output"]))
            except GraphBubbleUp:
                raise
            except Exception as exc:  # a recorded error comes back as its text
                seen.append(f"error:{exc}")
        if pause:
            interrupt("pause")
        return {"seen": seen}

    return work


def _graph(tool_name: str, pause: bool = True) -> Any:
    builder = StateGraph(S)
    builder.add_node("work", _work(tool_name, pause))
    builder.add_edge(START, "work")
    return builder.compile(checkpointer=InMemorySaver())


@pytest.fixture(autouse=True)
def _fresh() -> None:
    ORDER.clear()
    RUNS.clear()


def test_a_replay_in_the_same_order_reuses_every_result() -> None:
    graph, config = _graph("look"), {"configurable": {"thread_id": "same"}}
    ORDER.extend(["a", "b", "bad1"])
    graph.invoke({"seen": []}, config)
    assert RUNS == ["a", "b", "bad1"]
    out = graph.invoke(Command(resume="go"), config)
    assert out["seen"] == ["a#1", "b#2", "error:cannot look at bad1"]
    assert RUNS == ["a", "b", "bad1", "bad1"]  # a failed call runs again on resume, as a failed task does


def test_a_replay_in_another_order_gives_each_call_its_own_result() -> None:
    graph, config = _graph("look"), {"configurable": {"thread_id": "order"}}
    ORDER.extend(["bad1", "a", "b"])
    graph.invoke({"seen": []}, config)
    assert RUNS == ["bad1", "a", "b"]
    ORDER[:] = ["b", "a", "bad1", "c"]
    out = graph.invoke(Command(resume="go"), config)
    seen = out["seen"]
    assert [s.split("#")[0] for s in seen[:2]] == ["b", "a"] and seen[3].startswith("c#")
    assert seen[2] == "error:cannot look at bad1"
    # no call got another call's result or error (they ran again where their position held another's)
    assert all(s.startswith(item) or item in s for s, item in zip(seen, ORDER, strict=True))


def test_an_interrupt_answer_never_goes_to_another_call_at_its_position() -> None:
    graph, config = _graph("ask_about", pause=False), {"configurable": {"thread_id": "answers"}}
    ORDER.append("x")
    out = graph.invoke({"seen": []}, config)
    asked = out["__interrupt__"][0]
    assert asked.value == "x"
    ORDER[:] = ["y"]  # the re-run asks about something else at the same position
    out = graph.invoke(Command(resume={asked.id: "X"}), config)
    assert [i.value for i in out["__interrupt__"]] == ["y"]  # asked anew: 'y' was never given x's answer
    out = graph.invoke(Command(resume={out["__interrupt__"][0].id: "Y"}), config)
    assert out["seen"] == ["y=Y"]


def test_an_interrupting_call_after_others_resumes_in_place() -> None:
    graph, config = _graph("ask_about", pause=False), {"configurable": {"thread_id": "two"}}
    ORDER.extend(["p", "q"])
    out = graph.invoke({"seen": []}, config)
    assert [i.value for i in out["__interrupt__"]] == ["p"]
    out = graph.invoke(Command(resume="P"), config)
    assert [i.value for i in out["__interrupt__"]] == ["q"]
    out = graph.invoke(Command(resume="Q"), config)
    assert out["seen"] == ["p=P", "q=Q"]


def test_outcomes_recorded_under_the_long_keys_of_before_are_still_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    from recode_graph.engine import tasks

    def long_keys(kind: str, digest: str, args: tuple[Any, ...]) -> dict[str, Any]:  # the code before the short keys
        try:
            return {"digest": digest, "value": tasks._FUNCS[kind](*args)}
        except Exception as exc:
            args[0].failed[digest] = exc
            return {"digest": digest, "error": repr(exc)}

    graph, config = _graph("look"), {"configurable": {"thread_id": "long-keys"}}
    ORDER.extend(["a", "b", "bad1"])
    with monkeypatch.context() as patched:
        patched.setattr(tasks, "_bound", long_keys)
        graph.invoke({"seen": []}, config)
    assert RUNS == ["a", "b", "bad1"]
    recorded = [w for ws in graph.checkpointer.writes.values() for w in ws.values() if w[1] == "__return__"]
    assert recorded and all("digest" in graph.checkpointer.serde.loads_typed(w[2]) for w in recorded)
    out = graph.invoke(Command(resume="go"), config)
    assert out["seen"] == ["a#1", "b#2", "error:cannot look at bad1"]
    assert RUNS == ["a", "b", "bad1", "bad1"]  # the values were reused; the recorded error ran again, as before


def test_an_outcome_is_stored_under_short_keys() -> None:
    graph, config = _graph("look"), {"configurable": {"thread_id": "short-keys"}}
    ORDER.extend(["a", "bad1"])
    graph.invoke({"seen": []}, config)
    recorded = [graph.checkpointer.serde.loads_typed(w[2]) for ws in graph.checkpointer.writes.values()
                for w in ws.values() if w[1] == "__return__"]
    assert sorted(sorted(r) for r in recorded) == [["d", "e"], ["d", "v"]]
