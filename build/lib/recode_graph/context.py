"""Run settings: the agent's limits and the LangGraph Studio context schema.

``Settings`` holds what ``create_recode_agent`` fixes at build time. ``RecodeContext`` is the graph's
context schema (``graph.invoke(..., context=RecodeContext(...))`` or the Studio "context" panel); its
fields, when set, override the build-time settings for one run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from recode_graph.sandbox import Limits

APPROVE_MODES = ("expansions", "actions", "all")


@dataclass(frozen=True)
class Settings:
    max_depth: int = 10
    max_rewrites: int = 5
    max_repairs: int = 2
    max_model_calls: int = 200
    approve_expansions: bool = False
    approve_tools: frozenset[str] | None = frozenset()  # None = every primitive call
    limits: Limits = Limits()

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_rewrites", "max_repairs", "max_model_calls"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.max_depth < 1:
            raise ValueError("max_depth must be at least 1")

    def needs_action_review(self, name: str) -> bool:
        return self.approve_tools is None or name in self.approve_tools


def approval_settings(approve: Any) -> tuple[bool, frozenset[str] | None]:
    """Map the ``approve=`` argument to (review expansions, tools to review; None = all)."""
    if approve is None or approve is False or approve == "" or approve == "none":
        return False, frozenset()
    if approve == "expansions":
        return True, frozenset()
    if approve == "actions":
        return False, None
    if approve == "all" or approve is True:
        return True, None
    if isinstance(approve, str):
        raise ValueError(f"approve must be None, 'expansions', 'actions', 'all' or a set of tool names, "
                         f"got {approve!r}")
    try:
        names = frozenset(str(n) for n in approve)
    except TypeError:
        raise ValueError(f"approve must be None, 'expansions', 'actions', 'all' or a set of tool names, "
                         f"got {approve!r}") from None
    return False, names


@dataclass
class RecodeContext:
    """Per-run choices (shown in LangGraph Studio). Empty fields keep the agent's own settings."""

    model: str = field(
        default="",
        metadata={"description": "Chat model: an init_chat_model string ('openai:gpt-4o-mini'), 'local', "
                  "'local:qwen2.5-coder-0.5b', 'scripted:<fixture>' (test aid) or 'module:attribute'. "
                  "Empty: the agent's model, else RECODE_MODEL / OPENAI_API_KEY / local."},
    )
    environment: str = field(
        default="",
        metadata={"description": "Environment: alfworld, sciworld, webshop or twx. Empty: the agent's own "
                  "(the served graph then uses only its tools)."},
    )
    split: str = field(default="", metadata={"description": "Task split of the environment (e.g. unseen)."})
    max_depth: int = field(default=0, metadata={"description": "Depth limit of the expansion tree (0: keep)."})
    max_rewrites: int = field(default=-1, metadata={"description": "Re-asks on invalid output (-1: keep)."})
    max_repairs: int = field(default=-1, metadata={"description": "Repairs per failed statement (-1: keep)."})
    approve: str = field(
        default="",
        metadata={"description": "Human approval: '', 'expansions', 'actions', 'all' or comma-separated "
                  "tool names."},
    )


def effective_settings(base: Settings, context: Any) -> Settings:
    """``base`` with the non-empty fields of a ``RecodeContext`` (or a dict of them) applied."""
    if context is None:
        return base
    values = context if isinstance(context, dict) else {f.name: getattr(context, f.name, None)
                                                        for f in fields(RecodeContext)}
    changes: dict[str, Any] = {}
    if values.get("max_depth"):
        changes["max_depth"] = int(values["max_depth"])
    for name in ("max_rewrites", "max_repairs"):
        value = values.get(name)
        if value is not None and int(value) >= 0:
            changes[name] = int(value)
    approve = values.get("approve")
    if approve:
        spec: Any = approve
        if approve not in APPROVE_MODES and approve != "none":
            spec = [n.strip() for n in str(approve).split(",") if n.strip()]
        changes["approve_expansions"], changes["approve_tools"] = approval_settings(spec)
    return replace(base, **changes) if changes else base
