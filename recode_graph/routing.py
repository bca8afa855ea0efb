"""Conditional edges: where the graph goes after each node."""

from __future__ import annotations

from typing import Literal

from recode_graph.engine.state import RecodeState

Next = Literal["expand", "review", "execute", "finish"]
ROUTE_CHANNELS = ("status", "proposal", "pending")  # all that ``route`` reads (recode_graph.fastroute)


def route(state: RecodeState) -> Next:
    if state.get("status", "running") != "running":
        return "finish"
    if state.get("proposal"):
        return "review"
    if state.get("pending"):
        return "expand"
    return "execute"
