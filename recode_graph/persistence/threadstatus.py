"""Is a stored thread finished? The one rule every caller uses (``recode resume``, ``recode show``, the agent).

A thread is finished only when its stored ``status`` is final *and* LangGraph has nothing left to run for it.
``StateSnapshot.next`` alone is not enough: when a process stops right after a node returned (Ctrl-C,
SIGTERM, kill -9 between the node's writes and the next checkpoint), LangGraph keeps that node's writes as
*pending writes* of the last checkpoint; ``get_state`` applies them and reports the node among ``tasks``
(with its result) but not in ``next``. Such a thread is not finished: ``invoke(None, config)`` applies the
pending writes and continues from there.
"""

from __future__ import annotations

from typing import Any

FINAL = ("success", "failed")


def final_status(values: dict[str, Any] | None) -> bool:
    return (values or {}).get("status") in FINAL


def has_work(snapshot: Any) -> bool:
    """LangGraph still has a task for this checkpoint: to run (``next``) or whose pending writes are
    kept but not yet part of a checkpoint (``tasks`` with a result or an error)."""
    return bool(snapshot.next) or bool(snapshot.tasks)


def finished(snapshot: Any) -> bool:
    """The episode ended: final status, graph at its end. Anything else is continued, never called done."""
    return final_status(snapshot.values) and not has_work(snapshot)


def stranded(snapshot: Any) -> bool:
    """An episode that is not finished yet has no task to run (a checkpoint of a run whose status is still
    running but whose graph reached its end): it is continued by routing from the stored state again."""
    return bool(snapshot.values) and not final_status(snapshot.values) and not has_work(snapshot)


# The node whose conditional edge (``routing.route``) picks the next step from the stored state alone.
ROUTER = "execute"


def reroute(graph: Any, config: Any) -> bool:
    """Before ``invoke(None, config)``: give a stranded thread its next task again (an empty update as if
    ``execute`` had just returned, so ``route`` reads the stored state). True when it did."""
    snapshot = graph.get_state(config)
    if not stranded(snapshot):
        return False
    graph.update_state(config, None, as_node=ROUTER)
    return True


async def areroute(graph: Any, config: Any) -> bool:
    snapshot = await graph.aget_state(config)
    if not stranded(snapshot):
        return False
    await graph.aupdate_state(config, None, as_node=ROUTER)
    return True
