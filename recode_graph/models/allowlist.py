"""The operator's model allowlist: names a run may choose, each bound to a factory the operator trusts.

``RECODE_MODELS`` (the environment of the process that resolves models: the server, the ``recode`` command, a
script) maps names to ``module:attr`` factories::

    RECODE_MODELS="slow=myproject.models:slow_model, tuned=myproject.models:make_tuned"

A run (a served run's context, ``recode run --model``, ``create_recode_agent("tuned")``) names only the
*name*; the module is imported when a run first asks for it. Names are letters, digits, ``_``, ``-`` and
``.`` (no ``:``, so a name never reads as a provider string); ``local`` and ``scripted`` are taken. A
malformed setting fails every lookup with one line (fail closed).
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Any

from langchain_core.language_models import BaseChatModel

from recode_graph.models.errors import ModelError
from recode_graph.models.wrapped import is_chat_model

ENV = "RECODE_MODELS"
RESERVED = frozenset({"local", "scripted"})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z", re.ASCII)


def parse(text: str) -> dict[str, str]:
    """``name=module:attr`` items separated by commas (or newlines) → {name: "module:attr"}; ValueError names
    the bad item."""
    table: dict[str, str] = {}
    for raw in re.split(r"[,\n]", text):
        item = raw.strip()
        if not item:
            continue
        name, eq, target = (part.strip() for part in item.partition("="))
        module, colon, attr = target.partition(":")
        if not eq or not colon or not _DOTTED.match(module) or not _DOTTED.match(attr):
            raise ValueError(f"{ENV}: {item!r} is not name=module:attr")
        if not _NAME.match(name) or name in RESERVED:
            raise ValueError(f"{ENV}: {name!r} is not a usable model name (letters, digits, _ - . ; not "
                             f"{' or '.join(sorted(RESERVED))})")
        if name in table:
            raise ValueError(f"{ENV}: the name {name!r} is given twice")
        table[name] = target
    return table


def allowed() -> dict[str, str]:
    """The allowlist of this process (``RECODE_MODELS``); ModelError when the setting is malformed."""
    try:
        return parse(os.environ.get(ENV, ""))
    except ValueError as exc:
        raise ModelError(str(exc)) from None


def load(name: str, target: str) -> BaseChatModel:
    """The chat model of allowlisted ``name``: ``target``'s attribute, a chat model or a zero-argument factory."""
    module, _, attr = target.partition(":")
    where = f"model {name!r} ({ENV}: {target})"
    try:
        value: Any = importlib.import_module(module)
    except Exception as exc:  # the operator's module failing at import time
        raise ModelError(f"{where}: cannot import {module!r}: {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(value, part):
            raise ModelError(f"{where}: {module!r} has no attribute {attr!r}")
        value = getattr(value, part)
    if not is_chat_model(value) and callable(value):
        try:
            value = value()
        except Exception as exc:  # noqa: BLE001 - the operator's factory; one line, never a traceback
            raise ModelError(f"{where}: the factory failed: {type(exc).__name__}: {exc}") from None
    if not is_chat_model(value):
        raise ModelError(f"{where} gave a {type(value).__name__}, not a langchain chat model "
                         "(or a zero-argument factory returning one)")
    return value  # type: ignore[no-any-return]
