"""Readable traces: one chain run per node step; model and tool runs say which code node they serve."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tools import tool

from recode_graph import ScriptedChatModel, create_recode_agent, expansion


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.chains: dict[UUID, tuple[str, UUID | None]] = {}
        self.models: list[tuple[dict[str, Any], UUID | None]] = []
        self.tools: list[tuple[str, dict[str, Any]]] = []

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                       **kwargs: Any) -> None:
        self.chains[run_id] = (kwargs.get("name") or (serialized or {}).get("name") or "", parent_run_id)

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.models.append(({k: v for k, v in (metadata or {}).items() if k.startswith("recode_")}, parent_run_id))

    def on_tool_start(self, serialized: Any, input_str: str, *, run_id: UUID, metadata: dict[str, Any] | None = None,
                      **kwargs: Any) -> None:
        self.tools.append(((serialized or {}).get("name", ""), dict(metadata or {})))


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_one_chain_run_per_step_and_metadata_on_model_and_tool_runs(mode: str) -> None:
    model = ScriptedChatModel(by_call={"solve": expansion("", "s = helper(1)\nfinal_answer(str(s))"),
                                       "helper": expansion("", "s = add(1, 2)")})
    agent = create_recode_agent(model, tools=[add])
    handler = Recorder()
    config = {"callbacks": [handler]}
    out = (asyncio.run(agent.ainvoke({"instruction": "x"}, config)) if mode == "ainvoke"
           else agent.invoke({"instruction": "x"}, config))
    assert out["answer"] == "3"
    names = [name for name, _ in handler.chains.values()]
    steps = [n for n in names if n in {"start", "expand", "execute", "review", "finish", "route"}]
    # the placeholder `s = helper(1)` is expanded right after its parent's expansion (no execute step between)
    assert steps == ["start", "expand", "expand", "execute", "execute", "finish"]
    assert [meta for meta, _ in handler.models] == [
        {"recode_node": "0", "recode_call": "solve(instruction, observation)", "recode_depth": 0,
         "recode_mode": "placeholder"},
        {"recode_node": "1", "recode_call": "s = helper(1)", "recode_depth": 1, "recode_mode": "placeholder"},
    ]
    assert all(handler.chains[parent][0] == "expand" for _, parent in handler.models if parent)
    assert [(name, meta["recode_node"]) for name, meta in handler.tools] == [("add", "3")]


def test_repair_calls_are_marked_as_repairs() -> None:
    model = ScriptedChatModel(by_call={"solve": expansion("", "final_answer(str(1 / 0))"),
                                       "repair:final_answer": expansion("", "final_answer('fixed')")})
    handler = Recorder()
    out = create_recode_agent(model).invoke({"instruction": "x"}, {"callbacks": [handler]})
    assert out["answer"] == "fixed"
    assert [m["recode_mode"] for m, _ in handler.models] == ["placeholder", "repair"]
    assert handler.models[1][0]["recode_node"] == "1" and handler.models[1][0]["recode_depth"] == 1
