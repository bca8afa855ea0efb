"""The ``approve=`` setting: one parser for the constructor, the run context and the CLI, failing closed.

Accepted values (the same everywhere):

- ``None`` / ``False`` / ``""`` / ``"none"``: no review.
- ``"expansions"``, ``"actions"`` (every primitive call), ``"all"`` (both) or ``True`` (= ``"all"``).
- tool names: a set/list of names, or one comma-separated string; the mode words above may be mixed in
  (``"expansions,send_email"``).
- LangChain ``HumanInTheLoopMiddleware``'s ``interrupt_on`` mapping: ``{name: True | False |
  {"allowed_decisions": [...], "description": str | callable}}``, plus an ``"expansions"`` key; as a dict,
  or as its JSON text (the CLI and the Studio context panel).

Anything else is a ``ValueError``: an unknown tool name, an unknown word, a wrong type, a config without
``allowed_decisions`` or with an unknown key or decision. A typo never means "no review".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DECISIONS = ("approve", "edit", "reject", "respond")
# An expansion has no result a reviewer could give instead; an environment's observation cannot be invented
# without breaking the replay that rebuilds the environment after a resume.
EXPANSION_DECISIONS = ("approve", "edit", "reject")
RUN_DECISIONS = ("approve", "edit", "reject")
MODES = ("none", "expansions", "actions", "all")
EXPANSIONS_KEY = "expansions"
CONFIG_KEYS = frozenset({"allowed_decisions", "description", "args_schema", "when"})  # args_schema: unused, as there
DEFAULT_PREFIX = "Tool execution requires approval"


@dataclass(frozen=True)
class Review:
    """How one action is reviewed: the decisions offered and the description shown."""

    allowed: tuple[str, ...]
    description: str | Callable[..., str] | None = None
    when: Callable[[Any], bool] | None = None  # interrupt only when it says so (given the ToolCallRequest)
    prefix: str = DEFAULT_PREFIX  # the middleware's description_prefix

    def describe(self, name: str, args: Any, call: Mapping[str, Any] | None = None, state: Any = None,
                 runtime: Any = None) -> str:
        """The request's description: the configured text, the callable's answer (given the tool call,
        state and runtime, as the middleware's description factory) or the middleware's default."""
        if callable(self.description):
            tool_call = dict(call) if call is not None else {"name": name, "args": args, "id": None}
            return str(self.description(tool_call, state, runtime))
        if self.description is not None:
            return self.description
        return f"{self.prefix}\n\nTool: {name}\nArgs: {args}"


@dataclass(frozen=True)
class ApprovalPolicy:
    """Parsed ``approve=``: what is reviewed and how. Empty = nothing is reviewed."""

    expansions: Review | None = None
    tools: tuple[tuple[str, Review], ...] = ()  # explicit per-tool reviews
    every_action: bool = False  # "actions" / "all": every primitive call, with the default review
    schema: str = "langchain"  # how requests are shown and answered (recode_graph.approvals.hitl.SCHEMAS)

    def for_action(self, name: str) -> Review | None:
        """The review of a call of primitive ``name``, or None when it runs unreviewed."""
        for tool, review in self.tools:
            if tool == name:
                return review
        if self.every_action:
            return default_review(name)
        return None

    def merged(self, extra: ApprovalPolicy) -> ApprovalPolicy:
        """This policy plus ``extra``'s reviews (``extra`` wins where both configure the same action)."""
        tools = dict(self.tools)
        tools.update(extra.tools)
        return ApprovalPolicy(expansions=extra.expansions or self.expansions, tools=tuple(tools.items()),
                              every_action=self.every_action or extra.every_action, schema=self.schema)

    @property
    def reviews_anything(self) -> bool:
        return self.expansions is not None or self.every_action or bool(self.tools)


def default_review(name: str) -> Review:
    return Review(RUN_DECISIONS if name == "run" else DECISIONS)


def _problem(what: str) -> ValueError:
    return ValueError(f"approve: {what}. Use None, 'expansions', 'actions', 'all', tool names, or an "
                      "interrupt_on mapping {name: True | False | {'allowed_decisions': [...], "
                      "'description': ...}}")


def parse_approve(value: Any, tool_names: Iterable[str]) -> ApprovalPolicy:
    """Parse ``value`` (see the module docstring) against the primitives that exist (``tool_names``;
    ``run`` is always accepted: an environment can come from the run context). Raises ``ValueError``."""
    known = set(tool_names) | {"run"}
    if value is None or value is False:
        return ApprovalPolicy()
    if value is True:
        return ApprovalPolicy(expansions=Review(EXPANSION_DECISIONS), every_action=True)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                mapping = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _problem(f"the JSON mapping {value!r} does not parse ({exc.msg})") from None
            return _from_mapping(mapping, known)
        return _from_words([w.strip() for w in text.split(",")] if text else [], known, value)
    if isinstance(value, Mapping):
        return _from_mapping(value, known)
    if isinstance(value, set | frozenset | list | tuple):
        if not all(isinstance(v, str) for v in value):
            raise _problem(f"tool names must be strings, got {value!r}")
        return _from_words(list(value), known, value)
    raise _problem(f"unsupported type {type(value).__name__} ({value!r})")


def _from_words(words: list[str], known: set[str], original: Any) -> ApprovalPolicy:
    expansions, every, tools = False, False, []
    for word in words:
        if not word:
            raise _problem(f"empty name in {original!r}")
        if word == "none":
            if len(words) > 1:
                raise _problem(f"'none' cannot be combined with other values in {original!r}")
            continue
        if word in ("expansions", "all"):
            expansions = True
        if word in ("actions", "all"):
            every = True
        if word in MODES:
            continue
        _check_name(word, known)
        tools.append((word, default_review(word)))
    return ApprovalPolicy(expansions=Review(EXPANSION_DECISIONS) if expansions else None, every_action=every,
                          tools=tuple(dict(tools).items()))


def _check_name(name: str, known: set[str]) -> None:
    if name not in known:
        hint = ", ".join(sorted(known))
        raise _problem(f"unknown tool or mode {name!r} (tools: {hint}; modes: {', '.join(MODES)})")


def _from_mapping(mapping: Any, known: set[str]) -> ApprovalPolicy:
    if not isinstance(mapping, Mapping):
        raise _problem(f"the JSON value must be an object, got {type(mapping).__name__}")
    expansions: Review | None = None
    tools: list[tuple[str, Review]] = []
    for name, config in mapping.items():
        if not isinstance(name, str):
            raise _problem(f"mapping keys must be names, got {name!r}")
        if name == EXPANSIONS_KEY:
            expansions = _review(name, config, EXPANSION_DECISIONS)
            continue
        if name in MODES:
            raise _problem(f"{name!r} is not a key of an interrupt_on mapping (keys: tool names and "
                           f"'{EXPANSIONS_KEY}'); list the tools, or use the string {name!r}")
        _check_name(name, known)
        review = _review(name, config, RUN_DECISIONS if name == "run" else DECISIONS)
        if review is not None:
            tools.append((name, review))
    return ApprovalPolicy(expansions=expansions, tools=tuple(tools))


def _review(name: str, config: Any, possible: tuple[str, ...]) -> Review | None:
    if config is True:
        return Review(possible)
    if config is False:
        return None
    if not isinstance(config, Mapping):
        raise _problem(f"the config of {name!r} must be True, False or a mapping, got {config!r}")
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise _problem(f"unknown key(s) {unknown} in the config of {name!r} (known: {sorted(CONFIG_KEYS)})")
    allowed = config.get("allowed_decisions")
    if not isinstance(allowed, list | tuple) or not allowed:
        raise _problem(f"the config of {name!r} needs a non-empty 'allowed_decisions' list, got {allowed!r}")
    for decision in allowed:
        if decision not in possible:
            raise _problem(f"decision {decision!r} is not possible for {name!r} (possible: {list(possible)})")
    description = config.get("description")
    if description is not None and not isinstance(description, str) and not callable(description):
        raise _problem(f"the description of {name!r} must be a string or a callable, got {description!r}")
    when = config.get("when")
    if when is not None and not callable(when):
        raise _problem(f"the 'when' of {name!r} must be a callable taking the ToolCallRequest, got {when!r}")
    return Review(tuple(dict.fromkeys(allowed)), description, when)


def from_hitl_middleware(middleware: Any, tool_names: Iterable[str]) -> ApprovalPolicy:
    """The policy of a LangChain ``HumanInTheLoopMiddleware``: its ``interrupt_on`` (with ``when`` predicates)
    and ``description_prefix``; its ``interrupt_mode="per_call"`` makes the agent's requests per-call ones
    (``recode_graph.approvals.hitl``, set in ``create_recode_agent``). A custom ``edit_notice`` is refused: the
    code gets the edited call's result itself, never a message to annotate."""
    notice = getattr(middleware, "edit_notice", None)
    if notice is not None and notice != _default_edit_notice():
        raise ValueError("HumanInTheLoopMiddleware(edit_notice=...) does not apply: the generated code receives "
                         "the edited call's result directly; leave edit_notice at its default or None")
    policy = parse_approve(dict(getattr(middleware, "interrupt_on", {}) or {}), tool_names)
    prefix = getattr(middleware, "description_prefix", DEFAULT_PREFIX) or DEFAULT_PREFIX
    if prefix == DEFAULT_PREFIX:
        return policy
    from dataclasses import replace

    return replace(policy, tools=tuple((name, replace(review, prefix=prefix)) for name, review in policy.tools))


def _default_edit_notice() -> Any:
    import inspect

    from langchain.agents.middleware import HumanInTheLoopMiddleware

    return inspect.signature(HumanInTheLoopMiddleware.__init__).parameters["edit_notice"].default
