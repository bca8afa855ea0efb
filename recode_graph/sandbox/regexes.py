"""The ``re`` that generated code sees: the ``regex`` engine with a time limit on every match.

Model-written patterns can backtrack catastrophically (``(x+x+)+y`` on 40 characters runs for hours with
``re``), and a C-level match cannot be stopped by the sandbox's bytecode budget. Every search, match,
findall, sub, ... here runs with ``timeout`` = the time left in the statement's budget; running out raises
``TimeoutError`` with a hint, which becomes repair material like any other error. The API is ``re``'s
(``regex`` in its compatible VERSION0 mode); compiled patterns keep the limit. Matches are ``SavedMatch``
objects: the reading API of ``re.Match`` over plain data, so they are the same before and after a checkpoint.
A ``sub`` / ``subn`` callback gets such a match too, never the engine's own match object: that one's ``.re``
would be an untimed compiled pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import regex

MATCH_KEY = "$re.Match"  # a match's checkpoint form: {"$re.Match": {"string", "spans", "names"}}
Timeout = Callable[[], float]
_NO_LIMIT: Timeout = lambda: 3600.0  # noqa: E731 - outside a statement (prompt rendering, restore)


class RegexTimeout(TimeoutError):
    pass


def _saved(match: Any) -> SavedMatch | None:
    return None if match is None else SavedMatch.of(match)


def _timed(call: Callable[..., Any], timeout: Timeout, *args: Any, **kwargs: Any) -> Any:
    left = timeout()
    try:
        return call(*args, **kwargs, timeout=max(left, 0.001))
    except TimeoutError:
        raise RegexTimeout(f"the regular expression ran out of time ({left:.1f} s left in this step): it "
                           "backtracks too much; write a simpler pattern or use string methods") from None


def _safe_repl(repl: Any) -> Any:
    """A ``sub`` replacement: a template as it is, a callback wrapped so that it gets a ``SavedMatch``."""
    if not callable(repl):
        return repl

    def replace(match: Any) -> Any:
        return repl(SavedMatch.of(match))

    return replace


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

    def __getattr__(self, name: str) -> Any:  # only for names it does not have (``re``, ``pos``, ``regs``...)
        raise AttributeError(f"'re.Match' object has no attribute {name!r} here: a match offers group, groups, "
                             "groupdict, start, end, span, string, lastindex and lastgroup")

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


class Pattern:
    """A compiled pattern whose methods run with the statement's time limit."""

    def __init__(self, compiled: Any, timeout: Timeout = _NO_LIMIT) -> None:
        self._compiled = compiled
        self._timeout = timeout
        self.pattern: str = compiled.pattern
        self.flags: int = compiled.flags
        self.groups: int = compiled.groups
        self.groupindex: dict[str, int] = dict(compiled.groupindex)

    def search(self, string: str, pos: int = 0, endpos: int | None = None) -> SavedMatch | None:
        return _saved(_timed(self._compiled.search, self._timeout, string, pos, endpos))

    def match(self, string: str, pos: int = 0, endpos: int | None = None) -> SavedMatch | None:
        return _saved(_timed(self._compiled.match, self._timeout, string, pos, endpos))

    def fullmatch(self, string: str, pos: int = 0, endpos: int | None = None) -> SavedMatch | None:
        return _saved(_timed(self._compiled.fullmatch, self._timeout, string, pos, endpos))

    def findall(self, string: str, pos: int = 0, endpos: int | None = None) -> list[Any]:
        return _timed(self._compiled.findall, self._timeout, string, pos, endpos)  # type: ignore[no-any-return]

    def finditer(self, string: str, pos: int = 0, endpos: int | None = None) -> Iterator[Any]:
        """An iterator over the matches, all found at once under the time limit."""
        found = _timed(lambda *a, **k: list(self._compiled.finditer(*a, **k)), self._timeout, string, pos, endpos)
        return iter([SavedMatch.of(m) for m in found])

    def sub(self, repl: Any, string: str, count: int = 0) -> str:
        return _timed(self._compiled.sub, self._timeout, _safe_repl(repl), string, count)  # type: ignore[no-any-return]

    def subn(self, repl: Any, string: str, count: int = 0) -> tuple[str, int]:
        return _timed(self._compiled.subn, self._timeout, _safe_repl(repl), string,  # type: ignore[no-any-return]
                      count)

    def split(self, string: str, maxsplit: int = 0) -> list[Any]:
        return _timed(self._compiled.split, self._timeout, string, maxsplit)  # type: ignore[no-any-return]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and (self.pattern, self.flags) == (other.pattern, other.flags)

    def __hash__(self) -> int:
        return hash((self.pattern, self.flags))

    def __repr__(self) -> str:
        return f"re.compile({self.pattern!r})"


class Regex:
    """The ``re`` facade of one statement: module-level functions, flags and ``error``."""

    I = IGNORECASE = regex.IGNORECASE  # noqa: E741 - re's own name
    M = MULTILINE = regex.MULTILINE
    S = DOTALL = regex.DOTALL
    X = VERBOSE = regex.VERBOSE
    A = ASCII = regex.ASCII
    error = regex.error

    def __init__(self, timeout: Timeout = _NO_LIMIT) -> None:
        self._timeout = timeout

    def compile(self, pattern: Any, flags: int = 0) -> Pattern:
        if isinstance(pattern, Pattern):
            if flags:
                raise ValueError("cannot process flags argument with a compiled pattern")
            return Pattern(pattern._compiled, self._timeout)
        if not isinstance(pattern, str) and hasattr(pattern, "pattern"):  # a plain re.Pattern
            pattern, flags = pattern.pattern, flags or pattern.flags
        return Pattern(regex.compile(pattern, flags | regex.VERSION0), self._timeout)

    @staticmethod
    def escape(pattern: str) -> str:
        return regex.escape(pattern)  # type: ignore[no-any-return]

    def search(self, pattern: Any, string: str, flags: int = 0) -> Any:
        return self.compile(pattern, flags).search(string)

    def match(self, pattern: Any, string: str, flags: int = 0) -> Any:
        return self.compile(pattern, flags).match(string)

    def fullmatch(self, pattern: Any, string: str, flags: int = 0) -> Any:
        return self.compile(pattern, flags).fullmatch(string)

    def findall(self, pattern: Any, string: str, flags: int = 0) -> list[Any]:
        return self.compile(pattern, flags).findall(string)

    def finditer(self, pattern: Any, string: str, flags: int = 0) -> Iterator[Any]:
        return self.compile(pattern, flags).finditer(string)

    def sub(self, pattern: Any, repl: Any, string: str, count: int = 0, flags: int = 0) -> str:
        return self.compile(pattern, flags).sub(repl, string, count)

    def subn(self, pattern: Any, repl: Any, string: str, count: int = 0, flags: int = 0) -> tuple[str, int]:
        return self.compile(pattern, flags).subn(repl, string, count)

    def split(self, pattern: Any, string: str, maxsplit: int = 0, flags: int = 0) -> list[Any]:
        return self.compile(pattern, flags).split(string, maxsplit)


class PatternText(str):
    """A compiled pattern from the sandbox as the host holds it: its text (a ``str``) and ``flags``, never compiled
    in the host. Compiling a model-written (or forged) pattern can take gigabytes and seconds with the GIL held
    (``((a{100}){100}){250}``), so the host hands tools, prompts and records the text; a tool that wants a
    pattern compiles it itself, under its own limits. It shows as ``re.compile('...')`` and is stored back as a
    pattern."""

    flags: int

    def __new__(cls, pattern: str, flags: int = 0) -> PatternText:
        text = super().__new__(cls, pattern)
        text.flags = int(flags)
        return text

    @property
    def pattern(self) -> str:
        return str(self[:])

    def __repr__(self) -> str:
        return f"re.compile({self.pattern!r}{f', {self.flags}' if self.flags else ''})"


def is_match(value: Any) -> bool:
    return isinstance(value, regex.Match)


def is_pattern(value: Any) -> bool:
    return isinstance(value, Pattern | regex.Pattern | PatternText)
