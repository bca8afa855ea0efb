"""The graph loop's own cost (issue 35): supersteps per placeholder, the routing, the episode's control channel."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import old_layout
import pytest
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.engine.episode import ep
from recode_graph.fastroute import fast_routes, partial_reader
from recode_graph.persistence.checkpointers import sqlite_saver
from recode_graph.routing import ROUTE_CHANNELS

NODES = {"start", "expand", "review", "execute", "finish"}


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def nested_model() -> ScriptedChatModel:
    return ScriptedChatModel(by_call={"solve": expansion("", "s = helper(1)\nfinal_answer(str(s))"),
                                      "helper": expansion("", "s = add(1, 2)\ns = add(s, 0)")})


def test_a_placeholder_is_expanded_without_an_execute_step_of_its_own() -> None:
    agent = create_recode_agent(nested_model(), tools=[add], checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "steps"}}
    steps = nodes_of(agent.stream({"instruction": "x"}, cfg, stream_mode="updates"))
    # one execute per statement that runs (add, add, final_answer), none for the placeholder `s = helper(1)`
    assert steps == ["start", "expand", "expand", "execute", "execute", "execute", "finish"]
    values = agent.get_state(cfg).values
    assert values["answer"] == "3" and values["status"] == "success"
    assert values["tree"]["1"]["status"] == "done" and values["tree"]["1"]["children"] == ["3", "4"]


def test_a_thread_checkpointed_with_the_cursor_on_a_placeholder_and_no_request_still_expands_it() -> None:
    """Threads checkpointed before the expansion request came with the cursor: execute asks for it itself."""
    agent = create_recode_agent(nested_model(), tools=[add], checkpointer=InMemorySaver(),
                                interrupt_after=["expand"])
    cfg = {"configurable": {"thread_id": "old"}}
    agent.invoke({"instruction": "x"}, cfg)
    values = agent.get_state(cfg).values
    assert ep(values, "cursor") == "1" and ep(values, "pending") == {"node": "1", "mode": "placeholder"}
    # as an older release left it: the cursor on the placeholder, no request
    agent.update_state(cfg, {"episode": {"pending": None}}, as_node="expand")
    assert agent.get_state(cfg).next == ("execute",)
    steps: list[str] = []
    for _ in range(10):
        steps += nodes_of(agent.stream(None, cfg, stream_mode="updates"))
        if not agent.get_state(cfg).next:
            break
    assert steps == ["execute", "expand", "execute", "execute", "execute", "finish"]
    assert agent.get_state(cfg).values["answer"] == "3"


def nodes_of(updates: Iterable[dict[str, Any]], nodes: set[str] = NODES) -> list[str]:
    """The graph nodes that ran, in order (a tool call's task and an interrupt are updates too)."""
    return [name for u in updates for name in u if name in nodes]


class Routed(TypedDict, total=False):
    big: Annotated[list[int], operator.add]
    to: str


def routed_graph(seen: list[dict[str, Any]]) -> Any:
    def path(state: Routed) -> Literal["left", "right"]:
        seen.append(dict(state))
        return "right" if state.get("to") == "right" else "left"

    builder = StateGraph(Routed)
    builder.add_node("pick", lambda state: {"to": "right", "big": [len(state.get("big") or [])]})
    builder.add_node("left", lambda state: {})
    builder.add_node("right", lambda state: {})
    builder.add_edge(START, "pick")
    builder.add_conditional_edges("pick", path)
    builder.add_edge("left", END)
    builder.add_edge("right", END)
    assert fast_routes(builder, ["to"])
    return builder.compile(checkpointer=InMemorySaver())


def test_a_fast_route_reads_only_its_channels_with_the_node_s_writes_applied() -> None:
    seen: list[dict[str, Any]] = []
    graph = routed_graph(seen)
    cfg = {"configurable": {"thread_id": "r"}}
    steps = nodes_of(graph.stream({"big": [7, 8]}, cfg, stream_mode="updates"), {"pick", "left", "right"})
    assert steps == ["pick", "right"] and seen == [{"to": "right"}]  # the node's own write, no other channel
    # update_state routes through the same reader
    graph.update_state(cfg, {"to": "left"}, as_node="pick")
    assert graph.get_state(cfg).next == ("left",) and seen[-1] == {"to": "left"}


def test_the_agent_s_routes_are_fast_and_an_unknown_read_function_falls_back() -> None:
    agent = create_recode_agent(nested_model(), tools=[add])
    branches = [b for per_node in agent.builder.branches.values() for b in per_node.values()]
    assert len(branches) == 4 and all(getattr(b, "select", None) == ROUTE_CHANNELS for b in branches)
    read = partial_reader(["to"], lambda config: {"everything": True})
    assert read({"configurable": {}}) == {"everything": True}  # not LangGraph's per-task read: its own reader


@pytest.mark.parametrize("thread", ["placeholder", "midway", "review"])
def test_a_thread_checkpointed_before_the_episode_channel_resumes(thread: str, tmp_path: Path) -> None:
    """Threads the release before ``episode`` left paused (tests/old_layout.py) finish with this code; the
    first step copies their control values into ``episode``."""
    saver = sqlite_saver(old_layout.restore(tmp_path / "old.sqlite"))
    options = {"approve": "expansions"} if thread == "review" else {}
    graph = old_layout.agent(saver, **options)
    cfg = old_layout.config(thread)
    before = graph.get_state(cfg).values
    assert not before.get("episode") and before["session"] == thread and ep(before, "next_id") > 1
    out = graph.invoke(old_layout.APPROVE if thread == "review" else None, cfg)
    if thread == "review":  # approving the helper's expansion; nothing else is reviewed
        assert "__interrupt__" not in out
    assert out["answer"] == "3" and out["status"] == "success"
    values = graph.get_state(cfg).values
    assert values["episode"]["session"] == thread and values["episode"]["next_id"] == 5
    history = values["episode"]["sizes"]["$history"]  # the ledger goes on from the old channel's
    assert history > (before.get("sizes") or {}).get("$history", 0) and values["episode"]["sizes"]["s"] > 0
    if thread == "midway":
        assert before["sizes"]["$history"] > 0
    assert [values["tree"][n]["status"] for n in ("0", "1", "2", "3", "4")] == ["done"] * 5
    out = graph.invoke({"instruction": "again"}, cfg)  # a new episode on the old thread
    while "__interrupt__" in out:
        out = graph.invoke(old_layout.APPROVE, cfg)
    assert out["answer"] == "3" and graph.get_state(cfg).values["episode"]["turn"] > 0
