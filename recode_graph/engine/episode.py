"""The engine's control values (cursor, pending, proposal, next_id, session, ...), read and written in one place.

They live in one state channel, ``episode`` (``recode_graph.engine.state.Episode``): a step that moves the cursor
bumps one channel version, not one per field, and stores only what changed. Nodes build their updates with the
flat keys (``{"cursor": ..., "pending": None}``); ``fold`` (applied to every node by ``folding``) turns those
into one ``episode`` write holding only the values that differ from the state's. Reads go through ``ep``.

A thread checkpointed before ``episode`` existed has these values in top-level channels of their own (still
declared, never written now). While its ``episode`` is empty, ``ep`` reads them; the first ``fold`` on such a
thread copies them into ``episode``, which from then on is the only place read.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

EPISODE_KEYS = frozenset({"cursor", "pending", "proposal", "next_id", "turn", "asking", "run_error", "session",
                          "episode_key", "run_context", "sizes"})
MERGED = "sizes"  # the key whose writes are changes merged into it (state.merge_episode), not its new value
# reducer channels for which an empty write changes nothing: ``fold`` drops it (no version bump, no bytes)
_EMPTY_IS_NOTHING = frozenset({"tree", "variables", "trajectory", "usage", "messages", MERGED})


def episode_of(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """The control values: the ``episode`` channel, or on a thread from before it, the old channels'."""
    episode = state.get("episode")
    if episode:
        return episode  # type: ignore[no-any-return]
    return {key: state[key] for key in EPISODE_KEYS if state.get(key) is not None}


def ep(state: Mapping[str, Any] | None, key: str, default: Any = None) -> Any:
    """The control value ``key`` of ``state`` (``default`` when unset)."""
    if not state:
        return default
    episode = state.get("episode")
    value = episode.get(key) if episode else state.get(key)
    return default if value is None else value


def fold(state: Mapping[str, Any], update: Any) -> Any:
    """``update`` with its control keys moved into one ``episode`` write of the values that change, and its
    empty reducer writes left out. On a thread from before ``episode``, the write also copies the old channels'
    values (its later steps read only ``episode``). Anything but a dict is returned as it is."""
    if not isinstance(update, dict):
        return update
    control = [k for k in update if k in EPISODE_KEYS]
    empty = [k for k in update if k in _EMPTY_IS_NOTHING and _empty(update[k])]
    if not control and not empty:
        return update
    out = {k: v for k, v in update.items() if k not in EPISODE_KEYS and k not in empty}
    control = [k for k in control if k not in empty]
    if not control:
        return out
    current = episode_of(state)
    changes = {k: update[k] for k in control if current.get(k) != update[k]}
    if current and not state.get("episode"):  # the first write on a thread from before `episode`
        if MERGED in changes:  # the old channel's value with this step's changes
            from recode_graph.engine.state import merge_variables_batch

            changes[MERGED] = merge_variables_batch(current.get(MERGED) or {}, [changes[MERGED]])
        changes = {**current, **changes}
    if changes:
        if "episode" in out:
            raise ValueError("a node's update sets both 'episode' and its keys "
                             f"({', '.join(sorted(changes))}): set one")
        out["episode"] = changes
    return out


def _empty(value: Any) -> bool:
    return (isinstance(value, list | dict)) and not value


def folding(node: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a node ``(state, runtime)`` so its update goes through ``fold``."""
    if inspect.iscoroutinefunction(getattr(node, "func", node)):
        @functools.wraps(node)
        async def anode(state: Any, runtime: Any) -> Any:
            return fold(state, await node(state, runtime))

        return anode

    @functools.wraps(node)
    def snode(state: Any, runtime: Any) -> Any:
        return fold(state, node(state, runtime))

    return snode
