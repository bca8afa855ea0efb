"""Checkpoint-safe forms of sandbox values.

Variables are stored as plain data (str, int, float, bool, None, lists, dicts, sets of scalars; tuples come
back as lists). Two common non-plain values get a plain encoding so they survive a checkpoint, a resume in
a new process and time travel: regex matches (``m = re.search(...)`` then ``m.group(1)`` on the next
statement is what models write) and compiled patterns. A match comes back as a ``SavedMatch`` with the same
reading methods as ``re.Match``; a pattern is compiled again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from recode_graph.regexes import Regex, is_match, is_pattern

SCALARS = (str, int, float, bool, type(None))
MATCH_KEY = "$re.Match"
PATTERN_KEY = "$re.Pattern"
MAX_DEPTH = 20


class SavedMatch:
    """A regex match rebuilt from its checkpoint form: ``group``, ``groups``, ``groupdict``, ``start``,
    ``end``, ``span``, ``m[i]``, ``string``, ``lastindex``, ``lastgroup`` behave as on ``re.Match``."""

    def __init__(self, string: str, spans: list[list[int] | None], names: dict[str, int]) -> None:
        self.string = string
        self._spans = [tuple(s) if s is not None else None for s in spans]
        self._names = dict(names)
        found = [i for i, s in enumerate(self._spans) if i and s is not None]
        self.lastindex = max(found) if found else None
        self.lastgroup = next((n for n, i in self._names.items() if i == self.lastindex), None)

    @classmethod
    def of(cls, match: Any) -> SavedMatch:
        if isinstance(match, SavedMatch):
            return match
        spans = [list(match.span(i)) if match.span(i) != (-1, -1) else None for i in range(len(match.groups()) + 1)]
        return cls(match.string, spans, dict(match.re.groupindex))

    def _index(self, group: int | str) -> int:
        index = self._names.get(group) if isinstance(group, str) else group
        if not isinstance(index, int) or not 0 <= index < len(self._spans):
            raise IndexError("no such group")
        return index

    def group(self, *groups: int | str) -> Any:
        if len(groups) > 1:
            return tuple(self.group(g) for g in groups)
        span = self._spans[self._index(groups[0] if groups else 0)]
        return None if span is None else self.string[span[0]:span[1]]

    def __getitem__(self, group: int | str) -> str | None:
        return self.group(group)

    def groups(self, default: Any = None) -> tuple[Any, ...]:
        return tuple(default if s is None else self.string[s[0]:s[1]] for s in self._spans[1:])

    def groupdict(self, default: Any = None) -> dict[str, Any]:
        values = {name: self.group(index) for name, index in self._names.items()}
        return {name: default if value is None else value for name, value in values.items()}

    def span(self, group: int | str = 0) -> tuple[int, int]:
        span = self._spans[self._index(group)]
        return (-1, -1) if span is None else (span[0], span[1])

    def start(self, group: int | str = 0) -> int:
        return self.span(group)[0]

    def end(self, group: int | str = 0) -> int:
        return self.span(group)[1]

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SavedMatch) and self.encode() == other.encode()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<re.Match object; span={self.span()!r}, match={self.group()!r}>"

    def encode(self) -> dict[str, Any]:
        return {MATCH_KEY: {"string": self.string, "spans": [list(s) if s else None for s in self._spans],
                            "names": dict(self._names)}}


def to_checkpointable(value: Any, depth: int = 0) -> tuple[bool, Any]:
    """(ok, converted): plain data only; tuples become lists; sets of scalars stay sets; regex matches and
    patterns get their plain encoding (see ``restore``)."""
    if depth > MAX_DEPTH:
        return False, None
    if isinstance(value, SCALARS):
        return True, value
    if isinstance(value, list | tuple):
        out = []
        for v in value:
            ok, c = to_checkpointable(v, depth + 1)
            if not ok:
                return False, None
            out.append(c)
        return True, out
    if isinstance(value, set | frozenset):
        ok, items = to_checkpointable(list(value), depth + 1)
        return (True, set(items)) if ok and all(isinstance(i, SCALARS) for i in items) else (False, None)
    if isinstance(value, dict):
        out_d: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str | int | float | bool):
                return False, None
            ok, c = to_checkpointable(v, depth + 1)
            if not ok:
                return False, None
            out_d[k] = c  # type: ignore[index]
        return True, out_d
    if (isinstance(value, re.Match | SavedMatch) or is_match(value)) and isinstance(value.string, str):
        return True, SavedMatch.of(value).encode()
    if (isinstance(value, re.Pattern) or is_pattern(value)) and isinstance(value.pattern, str):
        return True, {PATTERN_KEY: value.pattern, "flags": int(value.flags)}
    return False, None


def restore(value: Any, depth: int = 0, compile: Callable[[str, int], Any] | None = None) -> Any:
    """A fresh copy of a checkpointed value with matches and patterns rebuilt (the sandbox's input);
    ``compile`` builds patterns (the statement's time-limited ``re`` facade)."""
    if isinstance(value, SCALARS) or depth > MAX_DEPTH:
        return value
    if isinstance(value, list):
        return [restore(v, depth + 1, compile) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(MATCH_KEY), dict):
            saved = value[MATCH_KEY]
            return SavedMatch(str(saved.get("string", "")), list(saved.get("spans") or [[0, 0]]),
                              dict(saved.get("names") or {}))
        if set(value) == {PATTERN_KEY, "flags"} and isinstance(value[PATTERN_KEY], str):
            try:
                return (compile or Regex().compile)(value[PATTERN_KEY], int(value["flags"]))
            except (re.error, Regex.error, ValueError, TypeError):
                return value
        return {k: restore(v, depth + 1, compile) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return set(value)
    if isinstance(value, tuple):
        return [restore(v, depth + 1, compile) for v in value]
    return value
