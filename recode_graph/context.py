"""Run settings: the agent's limits and the LangGraph Studio context schema.

``Settings`` holds what ``create_recode_agent`` fixes at build time. ``RecodeContext`` is the graph's
context schema (``graph.invoke(..., context=RecodeContext(...))`` or the Studio "context" panel); its
fields, when set, override the build-time settings for one run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from recode_graph.approvals.policy import ApprovalPolicy, parse_approve
from recode_graph.sandbox import Limits

CHAT_HISTORIES = ("steps", "answer")


@dataclass(frozen=True)
class Settings:
    max_depth: int = 10
    max_rewrites: int = 5
    max_repairs: int = 2
    max_model_calls: int = 200
    approval: ApprovalPolicy = ApprovalPolicy()
    limits: Limits = Limits()
    chat_history: str = "steps"  # the episode's work in `messages` ("steps") or only the answer ("answer")

    def __post_init__(self) -> None:
        if self.chat_history not in CHAT_HISTORIES:
            raise ValueError(f"chat_history must be one of {', '.join(map(repr, CHAT_HISTORIES))}, "
                             f"got {self.chat_history!r}")
        for name in ("max_depth", "max_rewrites", "max_repairs", "max_model_calls"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.max_depth < 1:
            raise ValueError("max_depth must be at least 1")

    @property
    def approve_expansions(self) -> bool:
        return self.approval.expansions is not None


@dataclass
class RecodeContext:
    """Per-run choices (shown in LangGraph Studio). Empty fields keep the agent's own settings."""

    model: str = field(
        default="",
        metadata={"description": "Chat model: an init_chat_model string ('openai:gpt-4o-mini'), 'local', "
                  "'local:qwen2.5-coder-0.5b', 'scripted:<fixture>' (test aid) or a name from the server's "
                  "RECODE_MODELS allowlist (never a module path). Empty: the agent's model, else RECODE_MODEL / "
                  "OPENAI_API_KEY / local."},
    )
    base_url: str = field(
        default="",
        metadata={"description": "An OpenAI-compatible server (vLLM, Ollama, llama.cpp, `recode model serve`) "
                  "for `model`, which then names the model on that server, e.g. http://127.0.0.1:8080/v1. "
                  "A served graph allows only the URLs listed in its RECODE_BASE_URLS."},
    )
    environment: str = field(
        default="",
        metadata={"description": "Environment: alfworld, sciworld, webshop or twx. Empty: the agent's own "
                  "(the served graph then uses only its tools)."},
    )
    split: str = field(default="", metadata={"description": "Task split of the environment (e.g. unseen)."})
    grounding: str = field(default="", metadata={"description": "Invalid environment actions: off (the paper), "
                                                 "hint (list the closest valid actions), snap (run the one clearly "
                                                 "closest), fail (hint, and run() raises ValueError in the code). "
                                                 "Empty: off."})
    max_depth: int = field(default=0, metadata={"description": "Depth limit of the expansion tree (0: keep)."})
    max_rewrites: int = field(default=-1, metadata={"description": "Re-asks on invalid output (-1: keep)."})
    max_repairs: int = field(default=-1, metadata={"description": "Repairs per failed statement (-1: keep)."})
    approve: str | list[str] | dict[str, Any] = field(
        default="",
        metadata={"description": "Human approval, added to the agent's own: '', 'expansions', 'actions', "
                  "'all', comma-separated tool names, or an interrupt_on mapping {tool: true | false | "
                  "{allowed_decisions: [...], description: '...'}} (also as JSON text). An invalid value "
                  "is a run error."},
    )

    def __post_init__(self) -> None:  # a bad field fails the run at its start, naming the field
        for name, value in check_context({f.name: getattr(self, f.name) for f in fields(self)}).items():
            setattr(self, name, value)


class ContextError(ValueError):
    """A run context field of the wrong type or form; the message names the field."""


_TEXT_FIELDS = ("model", "environment", "split", "grounding")
_INT_FIELDS = {"max_depth": 0, "max_rewrites": -1, "max_repairs": -1}  # the smallest value each takes


def check_context(values: Mapping[str, Any]) -> dict[str, Any]:
    """The run context ``values`` with the known fields checked (ints given as digit strings become ints);
    ContextError names the first bad field. ``approve`` is checked by ``parse_approve`` where it is used."""
    checked = dict(values)
    for name in _TEXT_FIELDS:
        value = values.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ContextError(f"run context field `{name}` must be a string, got {type(value).__name__}")
        if value and not value.isprintable():
            raise ContextError(f"run context field `{name}` holds control characters or lone surrogates: "
                               f"{value[:80]!r}")
    for name, least in _INT_FIELDS.items():
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,9}", value.strip()):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            shown = repr(value) if isinstance(value, str | float) else type(value).__name__
            raise ContextError(f"run context field `{name}` must be an integer, got {shown[:80]}")
        if value < least:
            raise ContextError(f"run context field `{name}` must be at least {least}, got {value}")
        checked[name] = value
    return checked


def effective_settings(base: Settings, context: Any, tool_names: Iterable[str] = ()) -> Settings:
    """``base`` with the non-empty fields of a ``RecodeContext`` (or a dict of them) applied.

    ``approve`` from the context is parsed like the constructor's (``tool_names``: the agent's tools) and
    adds to the agent's own reviews: a run context can ask for more review, never switch the agent's off.
    An invalid value raises ``ValueError`` (the run fails; it never runs unreviewed)."""
    if context is None:
        return base
    values = check_context(context if isinstance(context, Mapping) else {
        f.name: getattr(context, f.name, None) for f in fields(RecodeContext)})
    changes: dict[str, Any] = {}
    if values.get("max_depth"):
        changes["max_depth"] = values["max_depth"]
    for name in ("max_rewrites", "max_repairs"):
        value = values.get(name)
        if value is not None and value >= 0:
            changes[name] = value
    approve = values.get("approve")
    if approve is not None and approve != "":
        try:
            extra = parse_approve(approve, tool_names)
        except ValueError as exc:
            raise ContextError(f"invalid run context: {exc}") from None
        changes["approval"] = base.approval.merged(extra)
    return replace(base, **changes) if changes else base
