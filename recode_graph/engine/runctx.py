"""Run settings that survive a resume.

A run's ``context`` (``RecodeContext``: model, environment, split, limits, approve) is given when the run
starts; a resume (``Command(resume=...)``, a new run on the thread) often sends none. The ``start`` node keeps
the non-empty fields in the thread's state (``run_context``) and every node sees them under the fields the
current run leaves empty, so approvals and the model chosen at the start stay in force until the episode ends.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

from recode_graph.context import RecodeContext
from recode_graph.engine.episode import ep

_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RecodeContext)}


def _value(context: Any, name: str) -> Any:
    if isinstance(context, dict):
        return context.get(name)
    return getattr(context, name, None)


def _set(value: Any, name: str) -> bool:
    return value is not None and value != _DEFAULTS[name]


def chosen(context: Any) -> dict[str, Any]:
    """The fields of a run's context that were set (plain values, for the checkpoint)."""
    if context is None:
        return {}
    return {n: _value(context, n) for n in _DEFAULTS if _set(_value(context, n), n)}


def merged(runtime: Any, saved: dict[str, Any] | None) -> Any:
    """``runtime`` whose context has the saved fields where the current run leaves them empty."""
    if not saved or runtime is None:
        return runtime
    context = getattr(runtime, "context", None)
    missing = {k: v for k, v in saved.items() if k in _DEFAULTS and not _set(_value(context, k), k)}
    if not missing:
        return runtime
    if context is None or isinstance(context, dict):
        new: Any = {**(context or {}), **missing}
    elif isinstance(context, RecodeContext) or (dataclasses.is_dataclass(context) and all(
            hasattr(context, k) for k in missing)):
        new = dataclasses.replace(context, **missing)
    else:  # a user context type without these fields: nothing to restore into it
        return runtime
    return runtime.override(context=new)


def keep_run_context(node: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a node ``(state, runtime, *, deps)`` so it sees the thread's saved run context."""
    if inspect.iscoroutinefunction(getattr(node, "func", node)):
        @functools.wraps(node)
        async def anode(state: Any, runtime: Any) -> Any:
            return await node(state, merged(runtime, ep(state, "run_context")))

        return anode

    @functools.wraps(node)
    def snode(state: Any, runtime: Any) -> Any:
        return node(state, merged(runtime, ep(state, "run_context")))

    return snode
