"""The total state of an episode, capped: variables plus what the trajectory keeps (``Limits.max_state_bytes``).

Every statement may send back ``Limits.max_result_bytes``, and every primitive call's arguments and output
are kept in the trajectory, so without a cap an episode could hoard the host's memory one statement at a
time (and every checkpoint would copy it). The host measures the state before each statement
(``StateMeter.start``), refuses a call whose record would take the state over the cap (the call does not
run; the statement ends), and refuses a statement whose variables would (its changes are not kept). Both
are ordinary statement errors for the repair prompt: "MemoryError: the episode's state would exceed 64 MB
...". A statement that shrinks the state always passes, so the model can ``del`` its way back.

Sizes are the checkpoint form's JSON size, estimated with C-level passes over flat containers (the value is
not encoded): a 64 MB state costs milliseconds to measure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from recode_graph.sandbox import ExecResult

MB = 2**20
_SCALAR_BYTES = 8
_NUMBERS = frozenset({int, float, bool, type(None)})


def _text(value: str) -> int:
    return len(value) + 2 if value.isascii() else len(value.encode("utf-8", "surrogatepass")) + 2


def size_of(value: Any, depth: int = 0) -> int:
    """Approximate bytes of a checkpoint-form value as JSON (text exactly, numbers as 8)."""
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind is list or kind is tuple:
        return _items(value, depth) + 2
    if kind is dict:
        keys = list(value)
        key_bytes = sum(map(_text, keys)) if set(map(type, keys)) == {str} else _items(keys, depth)
        return key_bytes + _items(list(value.values()), depth) + 2
    if kind in _NUMBERS:
        return _SCALAR_BYTES
    return _text(str(value)) if depth < 100 else _SCALAR_BYTES  # not plain data (a trajectory keeps text)


def _items(items: Sequence[Any], depth: int) -> int:
    kinds = set(map(type, items))
    if kinds <= _NUMBERS:
        return (_SCALAR_BYTES + 1) * len(items)
    if kinds == {str} and all(map(str.isascii, items)):
        return sum(map(len, items)) + 3 * len(items)
    if depth > 100:
        return 0
    return sum(size_of(v, depth + 1) for v in items) + len(items)


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


@dataclass
class StateMeter:
    """The state's size during one statement: what it was before, and what the statement's calls added."""

    limit: int
    variables: int  # bytes of the variables before the statement
    kept: int  # bytes of the trajectory (before the statement, plus this statement's recorded calls)
    full: str = ""  # why a call was refused ("" while none was)
    before: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, limit: int, variables: Mapping[str, Any], trajectory: Sequence[Any]) -> StateMeter:
        sizes = sum(size_of(v) for v in variables.values())
        return cls(limit=limit, variables=sizes, kept=sum(map(size_of, trajectory)), before=dict(variables))

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

    def settle(self, result: ExecResult) -> ExecResult:
        """The statement's result under the cap: a refused call fails it; variables that would take the state over
        (and grow it) fail it too. A failed statement keeps the variables it had before."""
        if self.full:
            return replace(result, ok=False, error=f"MemoryError: {self.full}", error_type="MemoryError",
                           stopped="", variables=dict(self.before))
        sizes = {name: size_of(value) for name, value in result.variables.items()}
        total = sum(sizes.values()) + self.kept
        if total <= self.limit or total <= self.used:
            return result
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
