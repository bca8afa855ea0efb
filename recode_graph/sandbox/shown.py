"""What sandboxed code can see of an object: its text without heap addresses, and no address-based hash.

CPython shows an object's address in its default text (``<function f at 0x7f..>``, ``<list_iterator object at
0x..>``, ``<built-in method append of list object at 0x..>``) and derives the default ``hash()`` from it. An
address differs in every process, so a statement that computes a value from such text (or from such a hash)
computes another value when it is run again on resume, and what a person approved would no longer be what
runs. The restricted policy (``recode_graph.sandbox.restricted``) therefore routes every way code turns an
object into text through this module: the ``str``, ``repr``, ``ascii``, ``format`` and ``hash`` builtins,
f-strings, ``%`` formatting, ``print`` and an exception's ``args``; each drops the `` at 0x...`` part.
Text of plain values (str, numbers, None) is returned as it is, without a scan.

Not covered (see docs/sandbox.md): the iteration order of a ``set`` of objects hashed by identity
(functions, iterators): it follows their addresses.
"""

from __future__ import annotations

import builtins
import re
from typing import Any

# the address CPython's %p puts into a default repr: " at 0x7f3a2b1c0d10" before '>', ',', ';' or ':'
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]{4,16}(?=[>,;:])")
_BYTES_ADDRESS = re.compile(rb" at 0x[0-9a-fA-F]{4,16}(?=[>,;:])")
_PLAIN = frozenset({builtins.str, int, float, bool, type(None)})


def scrub(text: Any) -> Any:
    """``text`` (str or bytes) without object addresses."""
    if type(text) is builtins.str:
        return _ADDRESS.sub("", text) if " at 0x" in text else text
    if type(text) is bytes:
        return _BYTES_ADDRESS.sub(b"", text) if b" at 0x" in text else text
    return text


def safe_repr(value: Any) -> builtins.str:
    text = builtins.repr(value)
    return text if type(value) in _PLAIN else scrub(text)


def safe_ascii(value: Any) -> builtins.str:
    text = builtins.ascii(value)
    return text if type(value) in _PLAIN else scrub(text)


def safe_format(value: Any, spec: builtins.str = "") -> builtins.str:
    text = builtins.format(value, spec)
    return text if type(value) in _PLAIN else scrub(text)


def text_of(value: Any) -> builtins.str:
    """``str(value)`` without addresses (what ``print`` and ``str`` show)."""
    if type(value) is builtins.str:
        return value
    text = builtins.str(value)
    return text if type(value) in _PLAIN else scrub(text)


def safe_hash(value: Any) -> int:
    """``hash()`` of values; refused for objects whose hash is their address (it differs per process)."""
    kind = type(value)
    if kind.__hash__ is object.__hash__ and kind is not object:
        raise TypeError(f"hash() of a {kind.__name__} object is its memory address, which differs in every "
                        "process; hash the values it holds instead")
    return builtins.hash(value)


class _StrType(type):
    """``str`` in the sandbox is the builtin type for ``isinstance``, its methods and subclass checks; calling it
    with one argument gives the text without addresses."""

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, builtins.str)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, builtins.str)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs:
            return text_of(args[0])
        return builtins.str(*args, **kwargs)  # str(), str(b'..', 'utf-8'), ...


class SafeStr(builtins.str, metaclass=_StrType):
    """The sandbox's ``str`` (see ``_StrType``)."""


def formatted(value: Any, conversion: int, spec: builtins.str) -> builtins.str:
    """One ``{value!conversion:spec}`` of an f-string (the policy rewrites each into a call of this)."""
    if conversion == ord("r"):
        value = safe_repr(value)
    elif conversion == ord("s"):
        value = text_of(value)
    elif conversion == ord("a"):
        value = safe_ascii(value)
    return safe_format(value, spec)


def _plain_args(args: Any) -> bool:
    if type(args) in _PLAIN:
        return True
    if type(args) is tuple:
        return all(type(a) in _PLAIN for a in args)
    return False


def percent(template: Any, args: Any) -> Any:
    """``template % args``; for text templates without addresses in what the arguments turned into."""
    result = template % args
    if type(template) in (builtins.str, bytes) and not _plain_args(args):
        return scrub(result)
    return result


def exception_args(exc: BaseException) -> tuple[Any, ...]:
    """``exc.args`` with the texts among them scrubbed (CPython puts reprs into some messages)."""
    return tuple(scrub(a) for a in exc.args)


BUILTINS: dict[str, Any] = {"str": SafeStr, "repr": safe_repr, "ascii": safe_ascii, "format": safe_format,
                            "hash": safe_hash}
