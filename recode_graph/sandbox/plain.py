"""Checkpoint forms of sandbox values: JSON data with a few tags, exact and fast.

A variable is stored as JSON data (str, int, float, bool, None, lists, dicts with string keys), so every
checkpointer (its msgpack serializer packs integers of at most 64 bits), the server API and Studio (JSON)
hold it as it is. What JSON cannot hold exactly gets a one-key tag:

- ``{"$int": "15511210043330985984000000"}``: an integer outside the signed 64-bit range (decimal; hex
  ``"0x..."`` beyond ~3,900 digits, where decimal conversion is quadratic and capped by Python);
- ``{"$float": "nan"}`` (``"inf"``, ``"-inf"``); ``-0.0`` stays a number;
- ``{"$set": [...]}``: a set or frozenset (sorted when its items can be);
- ``{"$dict": {"keys": [...], "values": [...]}}``: a dict with a key that is not a string, or a string key
  starting with ``$`` (so no user dict ever reads as a tag); tuple keys come back as tuples. Two columns, not
  a list of pairs: a million small lists would cost seconds of garbage collection in every decoder;
- ``{"$re.Match": {...}}`` and ``{"$re.Pattern": ..., "flags": ...}``: regex matches (``m = re.search(...)``
  then ``m.group(1)`` on the next statement is what models write) and compiled patterns. A match comes back
  as a ``SavedMatch`` with the same reading methods as ``re.Match``; a pattern is compiled again in the
  worker (by the statement's time-limited ``re``) and is its text in the host (a ``PatternText``): the host
  never compiles a pattern that came from the sandbox.

Tuples come back as lists. Anything else (iterators, functions, text with a lone surrogate, nesting deeper
than ``MAX_DEPTH``) is not plain: ``to_checkpointable`` says so. ``restore`` turns the checkpoint form back
into values; it never raises, whatever it is given (a worker's output is untrusted). Containers whose items
are all scalars of one kind are checked and copied by C-level passes, and a large value that is already its own
checkpoint form (``own_form``, checked a level at a time) is copied whole in C, so a million-item dict costs
well under a second (``python -m recode_graph.bench.values``).
"""

from __future__ import annotations

import math
import pickle
import re
from collections.abc import Callable, Iterable
from itertools import chain
from operator import methodcaller
from typing import Any

from recode_graph.sandbox.regexes import MATCH_KEY, PatternText, Regex, SavedMatch, is_match, is_pattern

SCALARS = (str, int, float, bool, type(None))
PATTERN_KEY = "$re.Pattern"
INT_KEY, FLOAT_KEY, SET_KEY, DICT_KEY = "$int", "$float", "$set", "$dict"
MAX_DEPTH = 20
LOW, HIGH = -(1 << 63), 1 << 63  # ints outside [LOW, HIGH) are tagged (msgpack packs at most 64 bits)
DECIMAL_BITS = 13_000  # ~3,900 digits: decimal below (readable), hex above (linear, no digit limit)
_FLAT = frozenset(SCALARS)
_FREE = frozenset({bool, type(None)})  # scalars that need no check
_CONTAINERS = (list, dict)
_CONTAINERS_SET = frozenset(_CONTAINERS)
_OWN = _FLAT | _CONTAINERS_SET
_CHECKED = frozenset({int, float, str})
_BULK = 64  # a list or dict with more items than this is first tried as a whole (``own_form``)
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_dollar = methodcaller("startswith", "$")


class NotPlain(Exception):
    """The value has no checkpoint form."""


class Unstorable(NotPlain):
    """Data that no checkpoint can hold: text with a lone surrogate, nesting deeper than ``MAX_DEPTH`` (or a
    container holding itself). The statement that makes it fails (it is not kept in memory instead)."""


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


def storable(text: str) -> str:
    """``text`` safe in every checkpointer, JSON columns included: lone surrogates and NUL escaped (Postgres
    ``jsonb`` refuses ``\\u0000``). For text the state keeps as a plain string: the answer, a thought."""
    return printable(text).replace("\x00", "\\x00")


def big_int(value: int) -> dict[str, str]:
    return {INT_KEY: str(value) if value.bit_length() <= DECIMAL_BITS else hex(value)}


def _texts_ok(items: list[str]) -> bool:
    return all(map(str.isascii, items)) or all(map(is_text, items))


def _flat_ok(items: list[Any], kinds: set[type]) -> bool:
    """Whether a list of scalars is its own checkpoint form (C-level passes; False sends it item by item)."""
    if kinds <= _FREE:
        return True
    if len(kinds) > 1:
        return False
    if int in kinds:
        return LOW <= min(items) and max(items) < HIGH
    if str in kinds:
        return _texts_ok(items)
    return all(map(math.isfinite, items))  # floats


def own_form(value: Any) -> bool:
    """Whether ``value`` (a list or dict) is already its own checkpoint form and holds no tag: builtin types only,
    string keys not starting with ``$``, storable text, 64-bit ints, finite floats, at most ``MAX_DEPTH`` deep.
    C-level passes a level at a time (every container of a level is flattened into the next level's items)."""
    items, depth = [value], 0
    while items:
        kinds = set(map(type, items))
        if not kinds <= _OWN:
            return False
        for kind in kinds & _CHECKED:
            group = items if len(kinds) == 1 else [v for v in items if type(v) is kind]
            if not _flat_ok(group, {kind}):
                return False
        if not kinds & _CONTAINERS_SET:
            return True
        if depth >= MAX_DEPTH:
            return False
        inner: list[Any] = []
        if list in kinds:
            inner.extend(chain.from_iterable(items if len(kinds) == 1 else (v for v in items if type(v) is list)))
        if dict in kinds:
            dicts = items if len(kinds) == 1 else [v for v in items if type(v) is dict]
            keys = list(chain.from_iterable(dicts))
            if not set(map(type, keys)) <= {str} or any(map(_dollar, keys)) or not _texts_ok(keys):
                return False
            inner.extend(chain.from_iterable(map(dict.values, dicts)))
        items, depth = inner, depth + 1
    return True


def _copy(value: Any) -> Any:
    """A deep copy of plain data, made in C."""
    return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))


def _items(values: Iterable[Any], depth: int) -> list[Any]:
    items = list(values)
    kinds = set(map(type, items))
    if kinds <= _FLAT and _flat_ok(items, kinds):
        return items
    return [encode(v, depth) for v in items]


def _dict(value: dict[Any, Any], depth: int) -> dict[str, Any]:
    keys = list(value)
    values = _items(value.values(), depth)
    if set(map(type, keys)) <= {str} and not any(map(_dollar, keys)) and _texts_ok(keys):
        return dict(zip(keys, values, strict=True))
    return {DICT_KEY: {"keys": _items(keys, depth), "values": values}}


def _set(value: set[Any] | frozenset[Any], depth: int) -> dict[str, Any]:
    try:
        items: Iterable[Any] = sorted(value)  # readable, and the same form for the same set in any process
    except TypeError:
        items = value
    return {SET_KEY: _items(items, depth)}


def encode(value: Any, depth: int = 0) -> Any:
    """The checkpoint form of ``value``; raises ``NotPlain`` when it has none."""
    kind = type(value)
    if kind is str:
        if value.isascii() or is_text(value):
            return value
        raise Unstorable("text with a lone surrogate (such as '\\ud800'), which no checkpoint can store")
    if kind is int:
        return value if LOW <= value < HIGH else big_int(value)
    if kind is float:
        return value if math.isfinite(value) else {FLOAT_KEY: repr(value)}
    if kind is bool or value is None:
        return value
    if depth >= MAX_DEPTH:
        raise Unstorable(f"nested more than {MAX_DEPTH} levels deep (or a container that holds itself)")
    if depth == 0 and (kind is list or kind is dict) and len(value) > _BULK and own_form(value):
        return _copy(value)
    if kind is list or kind is tuple:
        return _items(value, depth + 1)
    if kind is dict:
        return _dict(value, depth + 1)
    if kind is set or kind is frozenset:
        return _set(value, depth + 1)
    return _other(value, depth)


def _other(value: Any, depth: int) -> Any:
    """Subclasses of the plain types (IntEnum, str subclasses, OrderedDict...), regex matches and patterns."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, PatternText):
        return {PATTERN_KEY: encode(value.pattern), "flags": value.flags}
    for base in (int, float, str, tuple, list, dict, set, frozenset):
        if isinstance(value, base):
            return encode(base(value), depth)  # type: ignore[call-overload]
    if (isinstance(value, re.Match | SavedMatch) or is_match(value)) and isinstance(value.string, str):
        encode(value.string)
        return SavedMatch.of(value).encode()
    if (isinstance(value, re.Pattern) or is_pattern(value)) and isinstance(value.pattern, str):
        return {PATTERN_KEY: encode(value.pattern), "flags": int(value.flags)}
    raise NotPlain(type(value).__name__)


def to_checkpointable(value: Any, depth: int = 0) -> tuple[bool, Any]:
    """(ok, checkpoint form); (False, None) for a value that has none (see ``encode``)."""
    try:
        return True, encode(value, depth)
    except (NotPlain, RecursionError):
        return False, None


def stored(value: Any) -> Any:
    """The checkpoint form of ``value``, or its text when it has none (a trajectory's arguments, a tool's output)."""
    ok, converted = to_checkpointable(value)
    if ok:
        return converted
    try:
        return printable(str(value))
    except ValueError:  # an int beyond the 4,300-digit limit of str() inside it
        return f"<{type(value).__name__} that cannot be shown>"


def stored_args(args: Any) -> Any:
    """A call's keyword arguments, each in its checkpoint form (or its text)."""
    if isinstance(args, dict) and all(isinstance(k, str) and not k.startswith("$") for k in args):
        return {k: stored(v) for k, v in args.items()}
    return stored(args)


# -- back to values ------------------------------------------------------------------------------------------
def restore(value: Any, depth: int = 0, compile: Callable[[str, int], Any] | None = None) -> Any:
    """A fresh copy of a checkpointed value with the tagged forms rebuilt (the sandbox's input); ``compile``
    builds patterns (the statement's time-limited ``re`` facade, in the worker); without it (the host) a pattern
    is its text, a ``PatternText``. Malformed tags stay as they are."""
    kind = type(value)
    if depth == 0 and (kind is list or kind is dict) and len(value) > _BULK and own_form(value):
        return _copy(value)
    if kind is list:
        return _restore_items(value, depth, compile)
    if kind is dict:
        return _restore_dict(value, depth, compile)
    if kind is set or kind is frozenset:  # checkpoints written before sets were tagged
        return set(value)
    if kind is tuple:
        return _restore_items(list(value), depth, compile)
    return value


def _restore_items(items: list[Any], depth: int, compile: Callable[[str, int], Any] | None) -> list[Any]:
    if depth > MAX_DEPTH or not set(map(type, items)) & {list, dict, set, frozenset, tuple}:
        return list(items)
    return [restore(v, depth + 1, compile) for v in items]


def _restore_dict(value: dict[Any, Any], depth: int, compile: Callable[[str, int], Any] | None) -> Any:
    if depth > MAX_DEPTH:
        return dict(value)
    if len(value) == 1:
        (key, inner), = value.items()
        rebuilt = _tagged(key, inner, depth, compile)
        if rebuilt is not _NOT_A_TAG:
            return rebuilt
    elif len(value) == 2 and set(value) == {PATTERN_KEY, "flags"} and isinstance(value[PATTERN_KEY], str):
        try:
            flags = value.get("flags", 0)
            if type(flags) is not int or not -(1 << 31) <= flags < 1 << 31:
                return dict(value)
            if compile is None:  # the host: the text, never compiled here (see regexes.PatternText)
                return PatternText(value[PATTERN_KEY], flags)
            return compile(value[PATTERN_KEY], flags)
        except (re.error, Regex.error, ValueError, TypeError, OverflowError):
            return dict(value)
    return dict(zip(value, _restore_items(list(value.values()), depth, compile), strict=True))


_NOT_A_TAG = object()


def _tagged(key: Any, inner: Any, depth: int, compile: Callable[[str, int], Any] | None) -> Any:
    if key == INT_KEY and isinstance(inner, str):
        try:
            return int(inner, 0)
        except ValueError:
            return _NOT_A_TAG
    if key == FLOAT_KEY and inner in _NONFINITE:
        return _NONFINITE[inner]
    if key == SET_KEY and isinstance(inner, list):
        try:
            return set(map(_frozen, _restore_items(inner, depth + 1, compile)))
        except TypeError:
            return _NOT_A_TAG
    if key == DICT_KEY and isinstance(inner, dict):
        return _restore_columns(inner, depth, compile)
    if key == MATCH_KEY and isinstance(inner, dict):
        try:
            return SavedMatch(str(inner.get("string", "")), list(inner.get("spans") or [[0, 0]]),
                              dict(inner.get("names") or {}))
        except (TypeError, ValueError):
            return _NOT_A_TAG
    return _NOT_A_TAG


def _frozen(value: Any) -> Any:
    """A restored key made hashable: lists (stored tuples) become tuples, sets frozensets."""
    if type(value) is list:
        return tuple(map(_frozen, value))
    if type(value) is set:
        return frozenset(value)
    return value


def _restore_columns(columns: dict[str, Any], depth: int, compile: Callable[[str, int], Any] | None) -> Any:
    keys, values = columns.get("keys"), columns.get("values")
    if len(columns) != 2 or type(keys) is not list or type(values) is not list or len(keys) != len(values):
        return _NOT_A_TAG
    keys = _restore_items(keys, depth + 1, compile)
    values = _restore_items(values, depth + 1, compile)
    if set(map(type, keys)) & {list, set}:
        keys = list(map(_frozen, keys))
    try:
        return dict(zip(keys, values, strict=True))
    except TypeError:
        return _NOT_A_TAG
