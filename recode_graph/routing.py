"""Conditional edges: where the graph goes after each node."""

from __future__ import annotations

from typing import Literal

from recode_graph.engine.episode import ep
from recode_graph.engine.state import RecodeState

Next = Literal["expand", "review", "execute", "finish"]
# all that ``route`` reads (recode_graph.fastroute): proposal and pending are the channels of a thread from
# before ``episode`` (recode_graph.engine.episode)
ROUTE_CHANNELS = ("status", "episode", "proposal", "pending")


def route(state: RecodeState) -> Next:
    if state.get("status", "running") != "running":
        return "finish"
    if ep(state, "proposal"):
        return "review"
    if ep(state, "pending"):
        return "expand"
    return "execute"
