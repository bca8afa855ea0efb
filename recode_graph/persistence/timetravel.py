"""Time travel: re-expand a node of a past run with new code or new feedback, as a new branch.

The old branch stays in the thread's history; the new one starts from the checkpoint taken just before
the node was expanded. Environments follow by replay (the adapter is reset and replayed to the branch's
trajectory before its next action).
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from recode_graph.engine.episode import ep, fold


def expansion_checkpoint(graph: Any, config: RunnableConfig, node_id: str) -> Any:
    """The latest snapshot in which ``node_id`` was about to be expanded."""
    for snapshot in graph.get_state_history(config):
        pending = ep(snapshot.values, "pending") or {}
        if pending.get("node") == node_id and not ep(snapshot.values, "proposal") and "expand" in snapshot.next:
            return snapshot
    raise ValueError(f"no checkpoint where node {node_id!r} was about to be expanded in this thread")


def reexpand(graph: Any, config: RunnableConfig, node_id: str, *, code: str | None = None,
             feedback: str | None = None, thought: str = "edited by a person") -> RunnableConfig:
    """Fork the thread at the expansion of ``node_id``. With ``code`` that code replaces the model's
    answer; with ``feedback`` the model is asked again with the feedback. Returns the new branch's config;
    continue it with ``graph.invoke(None, returned_config)``."""
    if (code is None) == (feedback is None):
        raise ValueError("pass exactly one of code= or feedback=")
    snapshot = expansion_checkpoint(graph, config, node_id)
    pending = dict(ep(snapshot.values, "pending"))
    if code is not None:
        proposal = {"node": node_id, "mode": pending.get("mode", "placeholder"), "thought": thought,
                    "code": code, "usage": {}, "approved": True}
        return graph.update_state(snapshot.config, fold(snapshot.values, {"proposal": proposal}), as_node="expand")
    return graph.update_state(snapshot.config, fold(snapshot.values, {"pending": {**pending, "feedback": feedback}}),
                              as_node="execute")
