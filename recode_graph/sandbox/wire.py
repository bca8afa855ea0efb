"""The bytes a sandbox worker sends to the host: JSON, never pickle.

A worker runs model-written code, so the host treats what it sends as hostile input: it is parsed as JSON
(no object construction, no imports) under a size cap, and only data the checkpoint can hold comes back.
Values cross in their checkpoint form (``recode_graph.sandbox.plain``), which is JSON already: big integers,
non-finite floats, sets and dicts with non-string keys are tagged there, so encoding and decoding are the
C-level ``json`` passes. The host then checks what JSON itself lets through and a checkpoint does not: lone
surrogates (``"\\ud800"`` escapes), integers beyond 64 bits, NaN/Infinity and nesting deeper than
``MAX_DEPTH``, one level at a time with C-level passes (texts only when the raw bytes have a surrogate
escape). Tags are not checked: ``plain.restore`` never raises on a malformed one.
"""

from __future__ import annotations

import json
import math
import re
from itertools import chain
from typing import Any

from recode_graph.sandbox.plain import HIGH, LOW, is_text

MAX_DEPTH = 64  # plain data is at most ``plain.MAX_DEPTH`` deep (plus the message around it)
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")  # the only way JSON text holds a lone surrogate
_LONG_NUMBER = re.compile(rb"[0-9]{19}|[eE][+-]?[0-9]{3}")


class WireError(ValueError):
    """The bytes are not a message this protocol produces."""


def dumps(message: Any) -> bytes:
    """Encode a message of checkpoint-form data; raises ``WireError`` on anything JSON cannot carry exactly."""
    try:
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                          check_circular=False)
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise WireError("text with a lone surrogate") from None
    except (TypeError, ValueError, RecursionError) as exc:
        raise WireError(f"not plain data: {exc}") from None


def _constant(name: str) -> Any:
    raise WireError(f"{name} is not plain data")


_DECODER = json.JSONDecoder(parse_constant=_constant)  # built once (``json.loads`` builds one per call with a hook)


def loads(data: bytes) -> Any:
    """Decode a message; raises ``WireError`` for anything that is not one (including too-deep nesting)."""
    try:
        value = _DECODER.decode(data.decode("utf-8"))
    except WireError:
        raise
    except (ValueError, RecursionError, MemoryError, TypeError) as exc:
        raise WireError(f"invalid message: {type(exc).__name__}") from None
    texts = _SURROGATE.search(data) is not None
    if texts or not _plainly_safe(data):
        check(value, texts=texts)
    return value


def _plainly_safe(data: bytes) -> bool:
    """Whether the raw bytes alone show what ``check`` would find (C-level passes, no walk of the decoded value):
    no digit run of 19 or more (every integer beyond 64 bits has one, and so does a float too long to be finite),
    no exponent of three digits (``1e999``), and fewer brackets than ``MAX_DEPTH`` levels. Digits and brackets
    inside texts count too: such a message is only checked the long way."""
    return (data.count(b"[") + data.count(b"{") <= MAX_DEPTH and _LONG_NUMBER.search(data) is None)


def _of(kind: type, items: list[Any], kinds: set[type]) -> list[Any]:
    return items if len(kinds) == 1 else [v for v in items if type(v) is kind]


def check(value: Any, texts: bool = True) -> None:
    """Raise ``WireError`` unless decoded JSON ``value`` is checkpoint-safe: at most ``MAX_DEPTH`` deep, no
    integer beyond 64 bits, no infinity (``1e999``) and, when ``texts``, no lone surrogate. Walks level by
    level: C-level passes over each level's items, Python only for the containers among them."""
    level, depth = [value], 0
    while level:
        depth += 1
        if depth > MAX_DEPTH + 1:
            raise WireError("value nested too deeply")
        kinds = set(map(type, level))
        ints = _of(int, level, kinds) if int in kinds else []
        if ints and not (LOW <= min(ints) and max(ints) < HIGH):
            raise WireError("an integer beyond 64 bits is not plain data (it is tagged)")
        if float in kinds and not all(map(math.isfinite, _of(float, level, kinds))):
            raise WireError("NaN and infinity are not plain data (they are tagged)")
        lists = _of(list, level, kinds) if list in kinds else []
        dicts = _of(dict, level, kinds) if dict in kinds else []
        if texts:
            strings = _of(str, level, kinds) if str in kinds else []
            strings += chain.from_iterable(dicts)
            if not all(map(is_text, strings)):
                raise WireError("text with a lone surrogate")
        level = list(chain(chain.from_iterable(lists), chain.from_iterable(map(dict.values, dicts))))
