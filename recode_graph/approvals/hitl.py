"""Human approval in the format of LangChain's ``HumanInTheLoopMiddleware`` (one action per request).

Request: ``{"action_requests": [{"name", "args", "description"}], "review_configs": [{"action_name",
"allowed_decisions"}]}``. Resume with ``Command(resume={"decisions": [decision]})`` where a decision is
``{"type": "approve"}``, ``{"type": "edit", "edited_action": {"name", "args"}}``, ``{"type": "reject",
"message": "..."}`` or ``{"type": "respond", "message": "..."}`` (the message is the call's result; the tool
does not run).

Where the middleware raises (batched mode: a decision type the action does not allow is a ``ValueError``
that fails the run; per-call mode: LangGraph refuses the answer before saving it), this agent answers a
bad resume value with a new interrupt carrying ``error``: the same request again, nothing lost and nothing
run. That covers a malformed value, a decision not in ``allowed_decisions``, an edit that names another
action (the middleware's per-call schema pins the name too) and edited arguments that fail the tool's
argument schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.types import interrupt

ArgsCheck = Callable[[dict[str, Any]], str]  # edited args → "" when valid, else the error


def request(name: str, args: dict[str, Any], description: str, allowed: tuple[str, ...] | list[str]
            ) -> dict[str, Any]:
    return {"action_requests": [{"name": name, "args": args, "description": description}],
            "review_configs": [{"action_name": name, "allowed_decisions": list(allowed)}]}


def check_decision(value: Any, name: str, allowed: tuple[str, ...] | list[str],
                   check_args: ArgsCheck | None = None) -> tuple[dict[str, Any] | None, str]:
    """(decision, "") when ``value`` is a valid answer to a request for ``name``, else (None, the error)."""
    offered = ", ".join(allowed)
    if not isinstance(value, dict) or not isinstance(value.get("decisions"), list) or len(
            value["decisions"]) != 1:
        return None, f"resume with {{'decisions': [one decision]}} ({offered})"
    decision = value["decisions"][0]
    kind = decision.get("type") if isinstance(decision, dict) else None
    if kind not in allowed:
        return None, f"decision type must be one of {offered} for {name}, got {kind!r}"
    if kind == "edit":
        edited = decision.get("edited_action")
        if not isinstance(edited, dict) or not isinstance(edited.get("args"), dict):
            return None, f"an edit needs edited_action={{'name': {name!r}, 'args': {{...}}}}"
        if edited.get("name", name) != name:
            return None, f"an edit cannot change the action: the request is for {name!r}, the edit names " \
                         f"{edited.get('name')!r}"
        problem = check_args(edited["args"]) if check_args is not None else ""
        if problem:
            return None, f"edited arguments rejected: {problem}"
    if kind == "reject" and not isinstance(decision.get("message", ""), str):
        return None, "a reject message must be a string"
    if kind == "respond" and not isinstance(decision.get("message"), str):
        return None, "a respond decision needs a 'message' string (it becomes the call's result)"
    return decision, ""


def ask(payload: dict[str, Any], check_args: ArgsCheck | None = None) -> dict[str, Any]:
    """Interrupt until a valid decision arrives (each bad answer re-interrupts with the error)."""
    config = payload["review_configs"][0]
    name, allowed = config["action_name"], config["allowed_decisions"]
    value = interrupt(payload)
    while True:
        decision, error = check_decision(value, name, allowed, check_args)
        if decision is not None:
            return decision
        value = interrupt({**payload, "error": error})


def required_args(*names: str) -> ArgsCheck:
    """An ``ArgsCheck`` requiring string values for ``names`` (``run``'s action, an expansion's code)."""
    def check(args: dict[str, Any]) -> str:
        missing = [n for n in names if not isinstance(args.get(n), str)]
        return f"needs {', '.join(repr(n) for n in missing)} (a string)" if missing else ""

    return check


def schema_check(tool: Any) -> ArgsCheck:
    """Edited arguments against the tool's argument schema (the one the model sees), as the middleware's
    per-call mode checks them; a tool whose schema is plain JSON schema is not checked, as there."""
    from pydantic import BaseModel, ValidationError

    schema = getattr(tool, "tool_call_schema", None)

    def check(args: dict[str, Any]) -> str:
        if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            return ""
        if "idempotency_key" in schema.model_fields:  # supplied by the agent (recode_graph.approvals.effects)
            args = {"idempotency_key": "", **args}
        try:
            schema.model_validate(args)
        except ValidationError as exc:
            return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}"
                             for e in exc.errors())[:500]
        return ""

    return check
