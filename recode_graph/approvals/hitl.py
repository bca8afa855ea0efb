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

``approval_schema="agent-inbox"`` shows the same request in the shape of langgraph's older ``HumanInterrupt``
(``[{"action_request": {"action", "args"}, "config": {"allow_accept", "allow_edit", "allow_respond",
"allow_ignore"}, "description"}]``), which Agent Inbox and the npm template of Agent Chat UI render with
buttons, and takes its answers (``[{"type": "accept" | "edit" | "response" | "ignore", "args": ...}]``) as
well as the decisions above. Answers are checked the same way in both schemas.

``approval_schema="per_call"`` (also set by ``HumanInTheLoopMiddleware(interrupt_mode="per_call")``) shows each
request as the middleware's per-call ``ToolApprovalRequest`` (``{"type": "tool_approval", "tool_call_id",
"name", "args", "description"}``) with the interrupt's ``response_schema``: the JSON schema of the decisions
this action allows (an edit's ``args`` in the tool's own argument schema). It is answered with one decision
(``Command(resume={"type": "approve"})``), or by interrupt id. The schema is given as JSON, so LangGraph does not
raise on a bad answer; it is checked here like the others and answered with the same request plus ``error``.

Every request made in a graph carries ``digest`` and an answer is applied only to the request it was given
for; otherwise the request is asked again with ``error`` and ``previous`` (``recode_graph.approvals.binding``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.types import interrupt

from recode_graph.approvals.binding import Bound

ArgsCheck = Callable[[dict[str, Any]], str]  # edited args → "" when valid, else the error
SCHEMAS = ("langchain", "agent-inbox", "per_call")


def check_schema(value: Any) -> str:
    """``value`` when it names an approval schema, else a ``ValueError`` (never a silent default)."""
    if value not in SCHEMAS:
        raise ValueError(f"approval_schema must be one of {', '.join(map(repr, SCHEMAS))}, got {value!r}")
    return str(value)


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


def ask(payload: dict[str, Any], check_args: ArgsCheck | None = None, schema: str = "langchain",
        bound: Bound | None = None, call_id: str = "") -> dict[str, Any]:
    """Interrupt until a valid decision arrives (each bad answer re-interrupts with the error); ``schema``
    says how the request is shown and answered (see the module docstring); ``call_id``: the call's id (per_call).
    With ``bound`` the request carries its digest and an answer given for another request is not applied: the
    request is asked again (``recode_graph.approvals.binding``)."""
    config = payload["review_configs"][0]
    name, allowed = config["action_name"], config["allowed_decisions"]
    kind = check_schema(schema)
    inbox, per_call = kind == "agent-inbox", kind == "per_call"
    if bound is not None:
        payload = {**payload, "digest": bound.digest}
    response_schema = decision_schema(name, allowed, getattr(check_args, "json_schema", None)) if per_call else None

    def asked(request: dict[str, Any]) -> tuple[Any, str, dict[str, Any] | None]:
        value = as_inbox(request) if inbox else as_per_call(request, call_id) if per_call else request
        if bound is not None:
            return bound.ask(value, response_schema)
        return interrupt(value, response_schema=response_schema), "", None

    value, error, previous = asked(payload)
    while True:
        if not error:
            answer = from_inbox(value, name, allowed) if inbox else value
            if per_call and not (isinstance(value, dict) and "decisions" in value):
                answer = {"decisions": [value]}  # per_call: one decision
            decision, error = check_decision(answer, name, allowed, check_args)
            if decision is not None:
                if bound is None or decision.get("digest") in (None, bound.digest):
                    return decision
                error = (f"the decision names request {decision.get('digest')!r}, this request is {bound.digest}: "
                         "it changed since it was shown; nothing ran")
            elif inbox and answer is value:  # not an Agent Inbox answer either
                error = (f"resume with [{{'type': 'accept' | 'edit' | 'response' | 'ignore', 'args': ...}}] (Agent "
                         f"Inbox) or {{'decisions': [one decision]}} ({', '.join(allowed)})")
        retry = {**payload, "error": error}
        if previous is not None:
            retry["previous"] = previous
        value, error, previous = asked(retry)


def as_per_call(payload: dict[str, Any], call_id: str) -> dict[str, Any]:
    """A request as the middleware's per-call ``ToolApprovalRequest`` (plus ``error``/``digest``/``previous``)."""
    action = payload["action_requests"][0]
    request: dict[str, Any] = {"type": "tool_approval", "tool_call_id": call_id, "name": action["name"],
                               "args": action["args"], "description": str(action.get("description") or "")}
    request.update({k: payload[k] for k in ("error", "digest", "previous") if k in payload})
    return request


def decision_schema(name: str, allowed: tuple[str, ...] | list[str], args_schema: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """The JSON schema of one decision for action ``name`` (per_call's ``response_schema``): one branch per
    allowed type, the edit's action name pinned and its ``args`` in ``args_schema`` (any object without one)."""
    text = {"type": "string"}
    branches = {
        "approve": ({}, []),
        "reject": ({"message": text}, []),
        "respond": ({"message": text}, ["message"]),
        "edit": ({"edited_action": {"type": "object", "required": ["name", "args"], "properties": {
            "name": {"const": name}, "args": args_schema or {"type": "object"}}}}, ["edited_action"]),
    }
    args_schema = dict(args_schema or {})
    defs = args_schema.pop("$defs", None)  # a tool schema's nested models: referenced from the top
    shown = []
    for kind in dict.fromkeys(allowed):
        properties, required = branches[kind]
        shown.append({"title": f"{kind.capitalize()}Decision", "type": "object", "required": ["type", *required],
                      "properties": {"type": {"const": kind}, **properties}})
    top: dict[str, Any] = shown[0] if len(shown) == 1 else {"oneOf": shown, "discriminator": {"propertyName": "type"}}
    return {**top, "$defs": defs} if defs else top


def as_inbox(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A request in langgraph's older ``HumanInterrupt`` shape (a one-item list, as Agent Inbox expects)."""
    action, config = payload["action_requests"][0], payload["review_configs"][0]
    allowed = config["allowed_decisions"]
    description = str(action.get("description") or "")
    if payload.get("error"):
        description = f"**Answer refused: {payload['error']}**\n\n{description}"
    item = {"action_request": {"action": action["name"], "args": action["args"]},
            "config": {"allow_accept": "approve" in allowed, "allow_edit": "edit" in allowed,
                       "allow_respond": "respond" in allowed or "reject" in allowed,
                       "allow_ignore": "reject" in allowed},
            "description": description}
    item.update({k: payload[k] for k in ("digest", "previous") if k in payload})
    return [item]


def from_inbox(value: Any, name: str, allowed: tuple[str, ...] | list[str]) -> Any:
    """An Agent Inbox answer as a ``{"decisions": [...]}`` value (``check_decision`` then judges it); a value
    already in that form passes through, anything unreadable comes back as it was (and is refused there)."""
    if isinstance(value, dict) and "decisions" in value:
        return value
    answer = value[0] if isinstance(value, list) and len(value) == 1 else value
    if not isinstance(answer, dict):
        return value
    kind, args = answer.get("type"), answer.get("args")
    if kind == "accept":
        decision: dict[str, Any] = {"type": "approve"}
    elif kind == "edit":
        edited = args if isinstance(args, dict) else {}
        decision = {"type": "edit", "edited_action": {"name": edited.get("action", name), "args": edited.get("args")}}
    elif kind == "response":
        decision = {"type": "respond" if "respond" in allowed else "reject", "message": args}
    elif kind == "ignore":
        decision = {"type": "reject", "message": "the reviewer ignored this request"}
    else:
        return value
    return {"decisions": [decision]}


def required_args(*names: str) -> ArgsCheck:
    """An ``ArgsCheck`` requiring string values for ``names`` (``run``'s action, an expansion's code)."""
    def check(args: dict[str, Any]) -> str:
        missing = [n for n in names if not isinstance(args.get(n), str)]
        return f"needs {', '.join(repr(n) for n in missing)} (a string)" if missing else ""

    check.json_schema = {"type": "object", "required": list(names),  # type: ignore[attr-defined]
                         "properties": {n: {"type": "string"} for n in names}}
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

    if isinstance(schema, type) and issubclass(schema, BaseModel):  # per_call's response_schema shows it
        shown = schema.model_json_schema()
        shown.get("properties", {}).pop("idempotency_key", None)  # supplied by the agent
        if "idempotency_key" in shown.get("required", []):
            shown["required"] = [k for k in shown["required"] if k != "idempotency_key"]
        check.json_schema = shown  # type: ignore[attr-defined]
    return check
