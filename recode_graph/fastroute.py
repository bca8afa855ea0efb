"""Conditional edges that read only the channels their route needs ("fastroute").

To call a conditional edge's path function, LangGraph reads the state "fresh" (as it is with the node's writes
applied): it copies every channel of the graph, the tree, the variables and the conversation included, applies
the node's writes to the copies and builds the whole state dict, once per step. Our route reads three values.
``fast_routes`` makes the builder's branches read just the channels given: the step's own writes are applied to
copies of those channels only, the others are not touched.

That needs LangGraph's private branch class and the shape of its per-task read function (``local_read`` bound to
the step's channels and the task's writes), both looked up through ``recode_graph.compat``. When either is missing
or has another shape, the branches keep LangGraph's own reader: the same route, at the old cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig

from recode_graph.compat import load

Reader = Callable[[RunnableConfig], Any]


def fast_routes(builder: Any, channels: Sequence[str]) -> bool:
    """Make every conditional edge of ``builder`` (a ``StateGraph`` before ``compile``) read only ``channels``.
    False (and the builder unchanged) when this LangGraph has no such branch class."""
    try:
        branch_class = load("BranchSpec")
        load("local_read")
        load("CONFIG_KEY_READ")
    except ImportError:
        return False
    fast = _fast_class(branch_class)
    for branches in builder.branches.values():
        for name, spec in list(branches.items()):
            branch = fast(*spec)
            branch.select = tuple(channels)
            branches[name] = branch
    return True


_classes: dict[type, type] = {}


def _fast_class(branch_class: type) -> type:
    """LangGraph's branch class with a reader that reads ``select`` only (a NamedTuple subclass without slots:
    ``select`` is an instance attribute; a copy made by ``_replace`` has none and reads as LangGraph does)."""
    if branch_class not in _classes:

        class FastBranch(branch_class):  # type: ignore[misc, valid-type]
            def run(self, writer: Any, reader: Reader | None = None) -> Any:
                select = getattr(self, "select", None)
                if reader is not None and select:
                    reader = partial_reader(select, reader)
                return super().run(writer, reader)

        _classes[branch_class] = FastBranch
    return _classes[branch_class]


def partial_reader(select: Sequence[str], fallback: Reader) -> Reader:
    """A branch reader returning ``select``'s channels with the node's writes applied, or ``fallback(config)``
    (LangGraph's own full fresh read) when the read function of the config is not the one this knows."""
    chosen = tuple(select)
    wanted = frozenset(chosen)

    def read(config: RunnableConfig) -> Any:
        parts = _read_parts(config)
        if parts is None:
            return fallback(config)
        channels, writes = parts
        out: dict[str, Any] = {}
        own: dict[str, list[Any]] = {}
        for channel_name, value in writes:
            if channel_name in wanted:
                own.setdefault(channel_name, []).append(value)
        for key in chosen:
            channel = channels.get(key)
            if channel is None:
                continue
            if key in own:
                channel = channel.copy()
                channel.update(own[key])
            if channel.is_available():
                out[key] = channel.get()
        return out

    return read


def _read_parts(config: RunnableConfig) -> tuple[Mapping[str, Any], Sequence[tuple[str, Any]]] | None:
    """(the step's channels, this task's writes) from the task's read function, or None if it is not
    ``functools.partial(local_read, scratchpad, channels, managed, task)``."""
    read = (config.get("configurable") or {}).get(load("CONFIG_KEY_READ"))
    if getattr(read, "func", None) is not load("local_read"):
        return None
    args = getattr(read, "args", ())
    if len(args) != 4 or not isinstance(args[1], Mapping) or not hasattr(args[3], "writes"):
        return None
    return args[1], args[3].writes
