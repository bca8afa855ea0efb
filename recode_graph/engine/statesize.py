"""The total state of an episode, capped: variables plus what the trajectory keeps (``Limits.max_state_bytes``),
and everything the host keeps for it, history included (``Limits.max_episode_bytes``).

Every statement may send back ``Limits.max_result_bytes``, and every primitive call's arguments and output
are kept in the trajectory, so without a cap an episode could hoard the host's memory one statement at a
time (and every checkpoint would copy it). The host measures the state before each statement
(``StateMeter.start``), refuses a call whose record would take the state over the cap (the call does not
run; the statement ends), and refuses a statement whose variables would (its changes are not kept). Both
are ordinary statement errors for the repair prompt: "MemoryError: the episode's state would exceed 64 MB
...". A statement that shrinks the state always passes, so the model can ``del`` its way back.

A checkpointer keeps every value ever assigned (each step's writes), so the host also keeps a running total of
what the episode has written: the values each statement assigned, the calls it recorded, its printed output and
a share of the variables' periodic snapshots. A statement that would take it over ``Limits.max_episode_bytes``
fails the same way (its changes are not kept); a final answer still ends the episode.

Sizes are the checkpoint form's JSON size, estimated with C-level passes over flat containers (the value is
not encoded), and measured once per change: the state keeps each variable's size (``sizes``) and the totals
(``$trajectory``, ``$history`` in the same channel), so a statement costs the host time for what it changed, not
for the whole state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any

from recode_graph.sandbox import ExecResult

MB = 2**20
_SCALAR_BYTES = 8
_CONTAINER_BYTES = 8  # a list or dict counts like a number (its JSON ``[]`` is 2 bytes, its memory far more)
_NUMBERS = frozenset({int, float, bool, type(None)})
TRAJECTORY, HISTORY = "$trajectory", "$history"  # totals kept beside the variables' sizes (never a variable name)
_KINDS_BY_PASS = 6  # a list with at most this many item types is measured one type at a time (C-level passes)


def _text(value: str) -> int:
    return len(value) + 2 if value.isascii() else len(value.encode("utf-8", "surrogatepass")) + 2


def size_of(value: Any, depth: int = 0) -> int:
    """Approximate bytes of a checkpoint-form value as JSON (text exactly, numbers and containers as 8).

    A list is measured a level at a time: its items are grouped by type and each group's items are flattened
    into one list by C-level passes (``chain``), so a million small dicts cost a few passes, not a million
    calls."""
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind is list or kind is tuple:
        return _items(value, depth) + _CONTAINER_BYTES
    if kind is dict:
        return _keys(list(value), depth) + _items(list(value.values()), depth) + _CONTAINER_BYTES
    if kind in _NUMBERS:
        return _SCALAR_BYTES
    return _text(str(value)) if depth < 100 else _SCALAR_BYTES  # not plain data (a trajectory keeps text)


def _keys(keys: list[Any], depth: int) -> int:
    if set(map(type, keys)) == {str}:
        return sum(map(len, keys)) + 2 * len(keys) if all(map(str.isascii, keys)) else sum(map(_text, keys))
    return _items(keys, depth)


def _items(items: Sequence[Any], depth: int) -> int:
    """Bytes of ``items`` (each with its separator)."""
    kinds = set(map(type, items))
    if kinds <= _NUMBERS:
        return (_SCALAR_BYTES + 1) * len(items)
    if kinds == {str}:
        if all(map(str.isascii, items)):
            return sum(map(len, items)) + 3 * len(items)
        return sum(map(_text, items)) + len(items)
    if depth > 100:
        return 0
    if len(kinds) > _KINDS_BY_PASS:
        return sum(size_of(v, depth + 1) for v in items) + len(items)
    if len(kinds) > 1:
        return sum(_items([v for v in items if type(v) is kind], depth) for kind in kinds)
    (kind,) = kinds
    if kind is dict:
        keys = list(chain.from_iterable(items))
        values = list(chain.from_iterable(map(dict.values, items)))
        return (_CONTAINER_BYTES + 1) * len(items) + _keys(keys, depth + 1) + _items(values, depth + 1)
    if kind is list or kind is tuple:
        return (_CONTAINER_BYTES + 1) * len(items) + _items(list(chain.from_iterable(items)), depth + 1)
    return sum(size_of(v, depth + 1) for v in items) + len(items)


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


@dataclass
class StateMeter:
    """The state's size during one statement: what it was before, and what the statement's calls added.

    Sizes come from the state's ledger (``sizes``: each variable's bytes, and under ``$trajectory`` / ``$history``
    the trajectory's bytes and the episode's history), so a statement measures only what it changed; a name or
    total the ledger lacks (a thread written before it existed) is measured once and written back."""

    limit: int
    variables: int  # bytes of the variables before the statement
    kept: int  # bytes of the trajectory (before the statement, plus this statement's recorded calls)
    full: str = ""  # why a call was refused ("" while none was)
    before: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # each variable's bytes before the statement
    history: int = 0  # bytes the episode has written so far (Limits.max_episode_bytes)
    history_limit: int = 0  # 0: not checked
    measured: dict[str, int] = field(default_factory=dict)  # sizes the ledger lacked, measured now
    kept_before: int = 0
    kept_measured: bool = False  # the trajectory's bytes were measured (not in the ledger)
    _measured_now: dict[str, tuple[Any, int]] = field(default_factory=dict)

    @classmethod
    def start(cls, limit: int, variables: Mapping[str, Any], trajectory: Sequence[Any],
              sizes: Mapping[str, int] | None = None, history_limit: int = 0) -> StateMeter:
        known = sizes or {}
        measured = {name: size_of(value) for name, value in variables.items() if name not in known}
        own = {name: known.get(name, 0) for name in variables if name in known}
        own.update(measured)
        kept_measured = TRAJECTORY not in known
        kept = sum(map(size_of, trajectory)) if kept_measured else int(known[TRAJECTORY])
        return cls(limit=limit, variables=sum(own.values()), kept=kept, before=dict(variables), sizes=own,
                   history=int(known.get(HISTORY, 0)), history_limit=history_limit, measured=measured,
                   kept_before=kept, kept_measured=kept_measured)

    @property
    def used(self) -> int:
        return self.variables + self.kept

    def _exceeds(self, what: str, extra: int) -> str:
        return (f"the episode's state would exceed {_mb(self.limit)} (Limits.max_state_bytes): {what} "
                f"{_mb(extra)} more, and its variables take {_mb(self.variables)}, the calls the trajectory keeps "
                f"{_mb(self.kept)}. Keep only what later steps need (del variables you are done with; pass tools "
                "smaller values)")

    def room_for(self, name: str, args: Any) -> str:
        """Why a call of ``name`` with ``args`` may not run ("" when it may)."""
        extra = size_of(args)
        if self.used + extra <= self.limit:
            return ""
        self.full = self._exceeds(f"calling {name}() would keep its arguments,", extra)
        return self.full

    def record(self, step: dict[str, Any]) -> str:
        """Count a call's record; when it takes the state over, its output is replaced by a note and the reason
        is returned (the statement ends)."""
        extra = size_of(step)
        if self.used + extra > self.limit:
            self.full = self._exceeds(f"the output of {step.get('name')}() would keep", extra)
            step["output"] = f"[output not kept: {_mb(extra)} would exceed Limits.max_state_bytes]"
            extra = size_of(step)
        self.kept += extra
        return self.full

    def changed(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """The variables a statement's result changed: a value that is not the one it had (by identity, then
        by equality: an unchanged value a worker sent back costs no walk) or a new name."""
        before = self.before
        return {name: value for name, value in variables.items()
                if name not in before or (before[name] is not value and before[name] != value)}

    def settle(self, result: ExecResult) -> ExecResult:
        """The statement's result under the caps: a refused call fails it; variables that would take the state
        over (and grow it) fail it too, and so does what would take the episode's history over
        ``Limits.max_episode_bytes``. A failed statement keeps the variables it had before."""
        if self.full:
            return replace(result, ok=False, error=f"MemoryError: {self.full}", error_type="MemoryError",
                           stopped="", variables=dict(self.before))
        changed = self.changed(result.variables)
        sizes = {name: size for name, size in self.sizes.items() if name in result.variables}
        sizes.update({name: self._size(name, value) for name, value in changed.items()})
        total = sum(sizes.values()) + self.kept
        if total > self.limit and total > self.used:
            if result.stopped:  # a final answer (or the environment's end) stands; the variables do not grow
                return replace(result, variables=dict(self.before))
            largest = ", ".join(f"{name} {_mb(size)}" for name, size in
                                sorted(sizes.items(), key=lambda item: -item[1])[:3])
            message = (f"the episode's state would exceed {_mb(self.limit)} (Limits.max_state_bytes): its variables "
                       f"would take {_mb(total - self.kept)} (largest: {largest}) and the calls the trajectory keeps "
                       f"{_mb(self.kept)}. This statement's changes were not kept: keep only what later steps need "
                       "(del variables you are done with; store summaries, not whole texts)")
            return replace(result, ok=False, error=f"MemoryError: {message}", error_type="MemoryError",
                           variables=dict(self.before))
        written = self.written(changed, sizes, total, result.stdout)
        if self.history_limit and self.history + written > self.history_limit and not result.stopped:
            message = (f"the episode's history would exceed {_mb(self.history_limit)} (Limits.max_episode_bytes): "
                       f"the host keeps every value the episode assigned (the checkpointer's history), every call "
                       f"and all printed output, {_mb(self.history)} so far, and this statement would add "
                       f"{_mb(written)}. Its changes were not kept: finish with what you have, or assign large "
                       "values less often")
            return replace(result, ok=False, error=f"MemoryError: {message}", error_type="MemoryError",
                           variables=dict(self.before))
        return result

    def _size(self, name: str, value: Any) -> int:
        """``size_of(value)``, measured once per statement for the value a name was given."""
        cached = self._measured_now.get(name)
        if cached is not None and cached[0] is value:
            return cached[1]
        size = size_of(value)
        self._measured_now[name] = (value, size)
        return size

    def written(self, changed: Mapping[str, Any], sizes: Mapping[str, int], total: int, stdout: str) -> int:
        """Bytes a statement adds to what the host keeps: the values it assigned, the calls it recorded, its
        printed output, and its share of the variables' snapshots (one every ``SNAPSHOT_EVERY`` updates)."""
        from recode_graph.engine.state import SNAPSHOT_EVERY

        assigned = sum(sizes[name] for name in changed)
        return assigned + (self.kept - self.kept_before) + len(stdout) + (total - self.kept) // SNAPSHOT_EVERY

    def ledger_update(self, after: Mapping[str, Any], stdout: str) -> dict[str, Any]:
        """The state update that keeps the ledger in step with a statement whose variables went to ``after``:
        the changed names' sizes, names gone, and the totals' increments."""
        before = self.before
        changed = self.changed(after)
        sizes: dict[str, Any] = dict(self.measured)
        sizes.update({name: self._size(name, value) for name, value in changed.items()})
        gone = [name for name in before if name not in after]
        if gone:
            from recode_graph.engine.state import DELETED

            sizes[DELETED] = gone
        own = {name: size for name, size in self.sizes.items() if name in after}
        own.update({name: size for name, size in sizes.items() if name in after})
        total = sum(own.values()) + self.kept
        written = self.written(changed, own, total, stdout)
        sizes[TRAJECTORY], sizes[HISTORY] = self.kept, self.history + written
        return {"sizes": sizes}
