"""recode-graph: ReCode (recursive code generation) as a durable LangGraph agent.

The names below load on first use, so ``import recode_graph.cli`` (the ``recode`` command) starts without
importing LangGraph; ``from recode_graph import create_recode_agent`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recode_graph.agent import create_recode_agent
    from recode_graph.approvals.effects import side_effects
    from recode_graph.context import RecodeContext
    from recode_graph.models.scripted import ScriptedChatModel, expansion
    from recode_graph.sandbox import Limits

_EXPORTS = {"create_recode_agent": "recode_graph.agent", "side_effects": "recode_graph.approvals.effects",
            "RecodeContext": "recode_graph.context", "ScriptedChatModel": "recode_graph.models.scripted",
            "expansion": "recode_graph.models.scripted", "Limits": "recode_graph.sandbox"}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'recode_graph' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["Limits", "RecodeContext", "ScriptedChatModel", "create_recode_agent", "expansion", "side_effects"]
