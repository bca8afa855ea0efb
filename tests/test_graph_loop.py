"""The graph loop's own cost (issue 35): supersteps per placeholder, the routing, the episode's control channel."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from recode_graph import ScriptedChatModel, create_recode_agent, expansion

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
    assert values["cursor"] == "1" and values["pending"] == {"node": "1", "mode": "placeholder"}
    # the layout of an older release: the cursor on the placeholder, no request
    agent.update_state(cfg, {"pending": None}, as_node="expand")
    assert agent.get_state(cfg).next == ("execute",)
    steps: list[str] = []
    for _ in range(10):
        steps += nodes_of(agent.stream(None, cfg, stream_mode="updates"))
        if not agent.get_state(cfg).next:
            break
    assert steps == ["execute", "expand", "execute", "execute", "execute", "finish"]
    assert agent.get_state(cfg).values["answer"] == "3"


def nodes_of(updates: Iterable[dict[str, Any]]) -> list[str]:
    """The graph nodes that ran, in order (a tool call's task and an interrupt are updates too)."""
    return [name for u in updates for name in u if name in NODES]
