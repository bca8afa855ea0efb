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

from recode_graph.sandbox.regexes import MATCH_KEY, Regex, SavedMatch, is_match, is_pattern

SCALARS = (str, int, float, bool, type(None))
PATTERN_KEY = "$re.Pattern"
MAX_DEPTH = 20


def is_text(value: str) -> bool:
    """False for a string with a lone surrogate (``'\\ud800'``): no checkpointer can store it as UTF-8."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """``text`` with lone surrogates escaped, safe to store in a checkpoint (stdout, error messages)."""
    return text if is_text(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def to_checkpointable(value: Any, depth: int = 0) -> tuple[bool, Any]:
    """(ok, converted): plain data only; tuples become lists; sets of scalars stay sets; regex matches and
    patterns get their plain encoding (see ``restore``)."""
    if depth > MAX_DEPTH:
        return False, None
    if isinstance(value, str):
        return (True, value) if is_text(value) else (False, None)
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
            if not isinstance(k, str | int | float | bool) or (isinstance(k, str) and not is_text(k)):
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
