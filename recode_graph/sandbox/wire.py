"""The bytes a sandbox worker sends to the host: JSON with a few tags, never pickle.

A worker runs model-written code, so the host treats what it sends as hostile input: it is parsed as JSON
(no object construction, no imports) under a size cap, and only plain data comes back. The checkpoint
encoding of variables (``recode_graph.sandbox.plain``) has sets, non-string dict keys and big integers that JSON
cannot hold as such; they get tags: ``{"$set": [...]}``, ``{"$dict": [[key, value], ...]}`` (any dict with
a non-string key or a key starting with ``$``), ``{"$int": "<hex>"}`` (integers beyond 64 bits: parsing a
long decimal number is quadratic and capped by ``sys.set_int_max_str_digits``).
"""

from __future__ import annotations

import json
from typing import Any

_SMALL_INT = 1 << 63
MAX_DEPTH = 64  # plain data is at most ``plain.MAX_DEPTH`` deep; anything deeper is not ours


class WireError(ValueError):
    """The bytes are not a message this protocol produces."""


def _pack(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if value is None or isinstance(value, str | bool | float):
        return value
    if isinstance(value, int):
        return value if -_SMALL_INT < value < _SMALL_INT else {"$int": format(value, "x")}
    if isinstance(value, list | tuple):
        return [_pack(v, depth + 1) for v in value]
    if isinstance(value, set | frozenset):
        return {"$set": [_pack(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _pack(v, depth + 1) for k, v in value.items()}
        return {"$dict": [[_pack(k, depth + 1), _pack(v, depth + 1)] for k, v in value.items()]}
    raise WireError(f"not plain data: {type(value).__name__}")


def _text(value: str) -> str:
    if not value.isascii():
        value.encode("utf-8")  # a lone surrogate (from a "\\udxxx" escape) cannot be checkpointed
    return value


def _unpack(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list):
        return [_unpack(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner), = value.items()
            if key == "$int" and isinstance(inner, str):
                return int(inner, 16)
            if key == "$set" and isinstance(inner, list):
                items = [_unpack(v, depth + 1) for v in inner]
                try:
                    return set(items)
                except TypeError:
                    raise WireError("unhashable set item") from None
            if key == "$dict" and isinstance(inner, list):
                out: dict[Any, Any] = {}
                for pair in inner:
                    if not (isinstance(pair, list) and len(pair) == 2):
                        raise WireError("bad dict item")
                    k = _unpack(pair[0], depth + 1)
                    if not isinstance(k, str | int | float | bool):
                        raise WireError("bad dict key")
                    out[k] = _unpack(pair[1], depth + 1)
                return out
        if any(k.startswith("$") for k in value):
            raise WireError("unknown tag")
        return {_text(k): _unpack(v, depth + 1) for k, v in value.items()}
    return value


def dumps(message: Any) -> bytes:
    """Encode plain data (what ``plain.to_checkpointable`` returns); raises ``WireError`` on anything else."""
    text = json.dumps(_pack(message, 0), separators=(",", ":"), ensure_ascii=False, check_circular=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise WireError("text with a lone surrogate") from None


def loads(data: bytes) -> Any:
    """Decode a message; raises ``WireError`` for anything that is not one (including too-deep nesting)."""
    try:
        return _unpack(json.loads(data.decode("utf-8")), 0)
    except WireError:
        raise
    except (ValueError, RecursionError, MemoryError, TypeError, AttributeError) as exc:
        raise WireError(f"invalid message: {type(exc).__name__}") from None
