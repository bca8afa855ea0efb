"""The episode's work reaches ``messages`` as it happens: every stream mode shows it live, streamed tokens carry
the ids of the stored messages, every approval request is under the AI message of the step that asks (in every
turn), resumed and time-travelled threads end with the messages of an uninterrupted one, checkpoints grow by
the step, and a run without a model says why in the thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.engine.history import KIND

SEEN: list[list[Any]] = []  # the messages the stream's reader has when a tool runs


@tool
def search(query: str) -> str:
    """Look a fact up."""
    SEEN.append(list(SEEN_BY_READER))
    return {"population of Oslo": "717710", "area of Oslo in km2": "454"}.get(query, "unknown")


SEEN_BY_READER: list[Any] = []


def oslo_model() -> ScriptedChatModel:
    return ScriptedChatModel(by_call={
        "solve": expansion("Plan.", "d = density('Oslo')\nfinal_answer(f'{d:.0f} people per km2')"),
        "density": expansion("Two lookups.",
                             "p = float(search('population of Oslo'))\nd = p / float(search('area of Oslo in km2'))")})


def shape(messages: list[Any]) -> list[tuple[Any, ...]]:
    """What a chat UI shows of each message (expansion ids come from the model call and differ per run)."""
    out = []
    for m in messages:
        kind = m.response_metadata.get(KIND) if isinstance(m, AIMessage) else None
        calls = [(c["id"], c["name"], c["args"]) for c in getattr(m, "tool_calls", None) or []]
        out.append((m.type, m.content, calls, getattr(m, "tool_call_id", None), None if kind == "expansion" else m.id))
    return out


def test_values_stream_shows_each_step_before_the_next_runs() -> None:
    SEEN.clear()
    SEEN_BY_READER.clear()
    agent = create_recode_agent(oslo_model(), tools=[search], checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "live"}}
    snapshots = []
    for values in agent.stream({"messages": [HumanMessage("Density of Oslo?")]}, cfg, stream_mode="values"):
        SEEN_BY_READER[:] = values["messages"]
        snapshots.append(values)
    # when the first lookup ran, the reader already had both expansions (the code that makes the call)
    first = [m.content for m in SEEN[0]]
    assert [m.type for m in SEEN[0]] == ["human", "ai", "ai"], first
    assert first[2].startswith("Expanding `d = density('Oslo')`: Two lookups.") and "search(" in first[2]
    # ... and when the second ran, the first call and its result too (written by the execute step that made it)
    assert [m.type for m in SEEN[1]] == ["human", "ai", "ai", "ai", "tool"]
    assert SEEN[1][-1].content == "717710" and SEEN[1][-2].tool_calls[0]["args"] == {"query": "population of Oslo"}
    growth = [len(s["messages"]) for s in snapshots]
    assert growth == sorted(growth) and len(set(growth)) == 6  # 1, 2, 3, 5, 7, 8 messages: one step at a time
    final = snapshots[-1]["messages"]
    assert [m.type for m in final] == ["human", "ai", "ai", "ai", "tool", "ai", "tool", "ai"]
    assert final[-1].content == "1581 people per km2" and final[-1].usage_metadata["total_tokens"] > 0
    assert [final[-1].id in {m.id for m in s["messages"]} for s in snapshots].count(True) == 1  # the answer: last
    updates = [next(iter(u)) for u in agent.stream({"messages": [HumanMessage("Again?")]}, cfg, stream_mode="updates")]
    # the root's code starts with a placeholder: its expansion follows at once (no execute step in between)
    assert updates[:3] == ["start", "expand", "expand"] and updates[-1] == "finish"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_streamed_tokens_carry_the_ids_of_the_stored_messages_and_the_answer_is_streamed(mode: str) -> None:
    agent = create_recode_agent(oslo_model(), tools=[search], checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": mode}}
    question = {"messages": [HumanMessage("Density of Oslo?")]}
    if mode == "sync":
        parts = list(agent.stream(question, cfg, stream_mode="messages"))
    else:
        import asyncio

        async def collect() -> list[Any]:
            return [p async for p in agent.astream(question, cfg, stream_mode="messages")]

        parts = asyncio.run(collect())
    stored = agent.get_state(cfg).values["messages"]
    by_id = {m.id: m for m in stored}
    chunks = [m for m, _ in parts if isinstance(m, AIMessageChunk)]
    assert chunks and {m.id for m, _ in parts} <= set(by_id)  # nothing streamed under an id no message has
    expansions = [m for m in stored if m.response_metadata.get(KIND) == "expansion"]
    for message in expansions:  # each expansion's model text streamed token by token under the message's id
        text = "".join(str(c.content) for c in chunks if c.id == message.id)
        assert "<execute>" in text and text.count(" ") > 3, text
        assert {meta["langgraph_node"] for m, meta in parts if m.id == message.id} == {"expand"}
    answer = stored[-1]
    assert [m.content for m, _ in parts if m.id == answer.id] == ["1581 people per km2"]  # the answer, once
    calls = [m for m in stored if isinstance(m, ToolMessage)]
    assert [m.id for m, _ in parts if isinstance(m, ToolMessage)] == [m.id for m in calls]


def mail_agent(**options: Any) -> tuple[Any, list[str]]:
    sent: list[str] = []

    @tool
    def lookup(name: str) -> str:
        """Look up someone's address."""
        return f"{name}@example.org"

    @tool
    def send_email(to: str, body: str) -> str:
        """Send an e-mail."""
        sent.append(to)
        return f"sent to {to}"

    code = "addr = lookup('bob')\nreceipt = send_email(addr, 'hi')\nfinal_answer(receipt)"
    model = ScriptedChatModel(responder=lambda prompt: expansion("Find the address, then send.", code))
    return create_recode_agent(model, tools=[lookup, send_email], **options), sent


def test_every_request_is_drawn_under_the_ai_message_of_the_step_that_asks_in_every_turn() -> None:
    agent, sent = mail_agent(approve={"send_email": True, "expansions": True}, checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "turns"}}
    approve = Command(resume={"decisions": [{"type": "approve"}]})
    for turn, question in enumerate(["mail bob", "mail bob again"]):
        out = agent.invoke({"messages": [HumanMessage(question)]}, cfg)
        (request,) = out["__interrupt__"]
        newest = agent.get_state(cfg).values["messages"][-1]  # what the chat UI draws the request under
        assert request.value["action_requests"][0]["name"] == "expansion"
        assert isinstance(newest, AIMessage) and newest.response_metadata[KIND] == "expansion"
        assert request.value["action_requests"][0]["args"]["code"] in newest.content
        assert "Waiting for review." in newest.content
        out = agent.invoke(approve, cfg)
        (request,) = out["__interrupt__"]
        messages = agent.get_state(cfg).values["messages"]
        newest = messages[-1]
        assert request.value["action_requests"][0]["name"] == "send_email"
        assert isinstance(newest, AIMessage) and newest.tool_calls[0]["name"] == "send_email"
        assert newest.tool_calls[0]["args"] == request.value["action_requests"][0]["args"] == {
            "to": "bob@example.org", "body": "hi"}
        assert sent == ["bob@example.org"] * turn  # shown, not sent
        assert "Waiting for review." not in messages[-4].content  # the approved expansion's message was updated
        out = agent.invoke(approve, cfg)
        assert out["status"] == "success" and sent == ["bob@example.org"] * (turn + 1)
    types = [m.type for m in out["messages"]]
    assert types == ["human", "ai", "ai", "tool", "ai", "tool", "ai"] * 2
    calls = [c["id"] for m in out["messages"] if isinstance(m, AIMessage) for c in m.tool_calls]
    assert [m.tool_call_id for m in out["messages"] if isinstance(m, ToolMessage)] == calls  # one result per call
    assert len({m.id for m in out["messages"]}) == len(out["messages"])


def test_a_rejected_call_gets_a_result_and_an_edited_call_shows_what_ran() -> None:
    agent, sent = mail_agent(approve={"send_email": True}, checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "reject"}}
    agent.invoke({"messages": [HumanMessage("mail bob")]}, cfg)
    out = agent.invoke(Command(resume={"decisions": [{"type": "reject", "message": "not bob"}]}), cfg)
    messages = agent.get_state(cfg).values["messages"]
    refused = [m for m in messages if isinstance(m, ToolMessage) and m.status == "error"]
    assert len(refused) == 1 and "not bob" in refused[0].content and sent == []
    asked = [c["id"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
    # every call has its result, but the newest: the repair wrote the same send, which is asked about again
    assert [m.tool_call_id for m in messages if isinstance(m, ToolMessage)] == asked[:-1]
    assert out["__interrupt__"] and messages[-1].tool_calls[0]["name"] == "send_email"
    agent, sent = mail_agent(approve={"send_email": True}, checkpointer=InMemorySaver())
    agent.invoke({"messages": [HumanMessage("mail bob")]}, cfg)
    edit = {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "ann@example.org", "body": "hi"}}}
    out = agent.invoke(Command(resume={"decisions": [edit]}), cfg)
    (call,) = [m for m in out["messages"] if isinstance(m, AIMessage) and m.tool_calls and
               m.tool_calls[0]["name"] == "send_email"]
    assert call.tool_calls[0]["args"]["to"] == "ann@example.org" and sent == ["ann@example.org"]


def test_resumed_and_time_travelled_threads_show_the_messages_of_an_uninterrupted_one(tmp_path: Path) -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    plain, _ = mail_agent(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "x"}}
    question = {"messages": [HumanMessage("mail bob")]}
    expected = shape(plain.invoke(question, cfg)["messages"])
    # resumed: paused for approval, then continued by a new agent on the same database (as another process would)
    path = tmp_path / "threads.sqlite"
    with SqliteSaver.from_conn_string(str(path)) as saver:
        first, _ = mail_agent(approve={"send_email": True}, checkpointer=saver)
        assert first.invoke(question, cfg)["__interrupt__"]
    with SqliteSaver.from_conn_string(str(path)) as saver:
        second, _ = mail_agent(approve={"send_email": True}, checkpointer=saver)
        out = second.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
        assert shape(out["messages"]) == expected
        assert shape(second.get_state(cfg).values["messages"]) == expected  # rebuilt from the stored writes
    # time travel: run again from the checkpoint after the expansion; the fork ends with the same messages
    history = list(plain.get_state_history(cfg))
    after_expand = next(s for s in reversed(history) if s.metadata and "expand" in (s.metadata.get("writes") or {})
                        or (s.next == ("execute",) and len(s.values.get("messages") or []) == 2))
    forked = plain.invoke(None, after_expand.config)
    assert shape(forked["messages"]) == expected
    # time travel with new code (recode_graph.persistence.timetravel): the new branch shows the code that ran
    from recode_graph.persistence.timetravel import reexpand

    branch = reexpand(plain, cfg, "0", code="final_answer(lookup('ann'))")
    edited = plain.invoke(None, branch)["messages"]
    assert [m.type for m in edited] == ["human", "ai", "ai", "tool", "ai"] and edited[-1].content == "ann@example.org"
    assert "final_answer(lookup('ann'))" in edited[1].content and edited[3].content == "ann@example.org"


def test_checkpoint_bytes_per_step_stay_proportional_to_the_step(tmp_path: Path) -> None:
    """A 60-node and a 200-node episode, each step writing its messages: bytes stored per step stay flat (the
    whole list re-stored each step would make the larger one's about 3x)."""
    from recode_graph.bench.overhead import run_once

    small = run_once(60, "sqlite", tmp_path, 0)
    large = run_once(200, "sqlite", tmp_path, 1)
    per_small, per_large = small["bytes"] / small["steps"], large["bytes"] / large["steps"]
    assert per_large < 1.5 * per_small, (per_small, per_large)
    assert per_small < 8000


def test_a_run_without_a_model_says_why_in_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    from recode_graph.agent import build_graph, compile_agent
    from recode_graph.context import Settings
    from recode_graph.deps import AgentDeps
    from recode_graph.graph import served_model
    from recode_graph.models.errors import ModelError

    monkeypatch.delenv("RECODE_MODEL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    deps = AgentDeps(model=None, tools={}, environment=None, examples=None, settings=Settings(), resolve=served_model)
    graph = compile_agent(build_graph(deps), checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "nomodel"}}
    with pytest.raises(ModelError, match="no model for this run: set the run context's `model` field"):
        graph.invoke({"messages": [HumanMessage("hi")]}, cfg)
    values = graph.get_state(cfg).values
    last = values["messages"][-1]
    assert isinstance(last, AIMessage) and "\n" not in last.content
    assert last.content.startswith("ModelError: no model for this run: set the run context's `model` field")
    assert values["status"] == "failed"
    out = graph.invoke({"messages": [HumanMessage("hi")]}, cfg, context={"model": "scripted:hello"})
    assert out["status"] == "success" and out["messages"][-1].content == "Hello, hi!"  # the next turn works


def test_the_messages_reducer_gives_the_same_list_for_any_batching() -> None:
    """``DeltaChannel`` replays stored writes in batches of any size: the result must be ``add_messages``
    applied write by write, whatever the batches (LangGraph stamps ids on messages before it stores a write)."""
    from langchain_core.messages import RemoveMessage
    from langgraph.graph.message import add_messages

    from recode_graph.engine.state import add_messages_batch

    result = ToolMessage("r", id="t", tool_call_id="c")
    writes: list[Any] = [
        [HumanMessage("q", id="h")], [AIMessage("plan", id="a")], [AIMessage("x", id="b"), result],
        [RemoveMessage(id="a")], [AIMessage("plan again", id="a")], [AIMessage("x edited", id="b")],
        HumanMessage("next", id="n"), [{"type": "ai", "content": "answer", "id": "z"}]]
    one_by_one: list[Any] = []
    for write in writes:
        one_by_one = add_messages(one_by_one, write)
    expected = [(m.type, m.content, m.id) for m in one_by_one]
    assert [c for _, c, _ in expected] == ["q", "x edited", "r", "plan again", "next", "answer"]
    for cut in range(len(writes) + 1):
        for split in range(cut, len(writes) + 1):
            out = add_messages_batch(add_messages_batch(add_messages_batch([], writes[:cut]), writes[cut:split]),
                                     writes[split:])
            assert [(m.type, m.content, m.id) for m in out] == expected, (cut, split)


def test_the_create_agent_side_by_side_measures_both_agents() -> None:
    from recode_graph.bench.stream_parity import run, table

    results = run(latency=0.4, tool_seconds=0.2)
    ours, theirs = results["recode-graph"], results["create_agent"]
    assert ours["answer_text"] == theirs["answer_text"] == "1088395"
    assert ours["snapshots"] == theirs["snapshots"] == 8
    assert ours["messages"] == 9 and theirs["messages"] == 8  # recode: the expansion; create_agent: no plan message
    assert ours["first_step"] < ours["answer"] - 0.5  # shown before the three 0.2 s calls run
    assert ours["per_step"] > 0 and "| recode-graph | 8 |" in table(results)
