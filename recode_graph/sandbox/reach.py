"""Which of a run's variables one statement can reach: the names its compiled code (and every code object nested in
it: comprehensions, lambdas) loads, stores or deletes.

A worker keeps its run's variables in their checkpoint form between statements and gives a statement fresh copies
(``plain.restore``) of the ones it names only; the others are not in its globals at all, so it cannot read or
change them, and a statement costs the time of what it names, not of the whole state. The copies are made per
name from checkpoint forms, which are never handed to a statement, so variables never share objects at a
statement's start (``b = a`` in one statement gives two independent lists in the next, as after a resume), and
a statement that fails half-way cannot have changed a variable it does not name, whatever the values share.

The only ways to a variable without its name are reflective: ``globals()``, ``vars()``, ``locals()``, ``dir()``,
``eval``/``exec`` (none is among the sandbox's builtins) and frame attributes (``f_globals``, ``gi_frame``, ...,
refused by RestrictedPython when the code is compiled, and there is no ``getattr`` to spell them at run time).
Should the builtins ever offer one, a statement naming it gets every variable (``reachable`` returns None).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import CodeType

REFLECTIVE_BUILTINS = frozenset({"globals", "vars", "locals", "dir", "eval", "exec", "compile", "getattr",
                                 "__import__", "breakpoint", "help"})
FRAME_ATTRIBUTES = frozenset({"f_globals", "f_locals", "f_back", "tb_frame", "gi_frame", "cr_frame", "ag_frame",
                              "__dict__", "__globals__"})  # refused at compile time; checked again here


def reflective(builtins: Iterable[str]) -> frozenset[str]:
    """The names that make a statement reach every variable, given the statement's builtins: the reflective
    builtins among them (none today) and the frame attributes."""
    return frozenset(REFLECTIVE_BUILTINS.intersection(builtins)) | FRAME_ATTRIBUTES


def names_of(code: CodeType) -> set[str]:
    """Every name ``code`` and the code objects nested in it refer to by name (``co_names``: global and attribute
    names; attribute names are harmless extras)."""
    names: set[str] = set()
    stack = [code]
    while stack:
        current = stack.pop()
        names.update(current.co_names)
        stack.extend(c for c in current.co_consts if isinstance(c, CodeType))
    return names


def reachable(code: CodeType, refused: frozenset[str]) -> set[str] | None:
    """The names a statement compiled to ``code`` can reach; None when it names one of ``refused`` (``reflective``),
    which could reach any variable: then it gets all of them."""
    names = names_of(code)
    return None if not names.isdisjoint(refused) else names
