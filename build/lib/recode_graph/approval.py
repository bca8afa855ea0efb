"""Human approval in LangChain's human-in-the-loop format.

Request: ``{"action_requests": [{"name", "args", "description"}], "review_configs": [{"action_name",
"allowed_decisions"}]}``. Resume with ``Command(resume={"decisions": [{"type": "approve"} | {"type":
"edit", "edited_action": {"name", "args"}} | {"type": "reject", "message": "..."}]})``. A malformed
resume value is answered by a new interrupt carrying ``error``: the run stays interrupted, nothing lost.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import interrupt

DECISIONS = ("approve", "edit", "reject")


def request(name: str, args: dict[str, Any], description: str) -> dict[str, Any]:
    return {"action_requests": [{"name": name, "args": args, "description": description}],
            "review_configs": [{"action_name": name, "allowed_decisions": list(DECISIONS)}]}


def check_decision(value: Any, required_args: tuple[str, ...] = ()) -> tuple[dict[str, Any] | None, str]:
    """(decision, "") when ``value`` is a valid resume value, else (None, one-line error)."""
    if not isinstance(value, dict) or not isinstance(value.get("decisions"), list) or len(
            value["decisions"]) != 1:
        return None, "resume with {'decisions': [one decision]} (approve, edit or reject)"
    decision = value["decisions"][0]
    kind = decision.get("type") if isinstance(decision, dict) else None
    if kind not in DECISIONS:
        return None, f"decision type must be one of {', '.join(DECISIONS)}, got {kind!r}"
    if kind == "edit":
        edited = decision.get("edited_action")
        args = edited.get("args") if isinstance(edited, dict) else None
        if not isinstance(args, dict) or any(a not in args for a in required_args):
            need = ", ".join(required_args) or "its arguments"
            return None, f"an edit needs edited_action={{'name': ..., 'args': {{{need}}}}}"
    if kind == "reject" and not isinstance(decision.get("message", ""), str):
        return None, "a reject message must be a string"
    return decision, ""


def ask(payload: dict[str, Any], required_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """Interrupt until a valid decision arrives (each malformed answer re-interrupts with the error)."""
    value = interrupt(payload)
    while True:
        decision, error = check_decision(value, required_args)
        if decision is not None:
            return decision
        value = interrupt({**payload, "error": error})
