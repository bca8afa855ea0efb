"""review: a human approves, edits or rejects the proposed expansion before it runs."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from recode_graph.tools.grounding import mode_of

from recode_graph.approvals import hitl
from recode_graph.approvals.binding import bind, ledger
from recode_graph.approvals.policy import EXPANSION_DECISIONS, Review
from recode_graph.deps import AgentDeps
from recode_graph.engine.code import InvalidExpansion
from recode_graph.engine.episode import ep
from recode_graph.engine.expander import apply, check, known_names
from recode_graph.engine.history import expansion_message, message_id
from recode_graph.engine.state import RecodeState


def review(state: RecodeState, runtime: Runtime[Any], *, deps: AgentDeps) -> dict[str, Any]:
    proposal = dict(ep(state, "proposal") or {})
    node_id = proposal["node"]
    node = state["tree"][node_id]
    pool = deps.pool(deps.env_key(runtime))
    grounded = pool is not None and mode_of(pool.acquire(ep(state, "session", ""))) != "off"
    known = known_names(deps, pool is not None, ep(state, "session", ""), grounded)
    approval = deps.settings_for(runtime).approval
    history = deps.settings_for(runtime).chat_history
    policy = approval.expansions or Review(EXPANSION_DECISIONS)
    args = {"node": node_id, "call": node.get("code", ""), "thought": proposal.get("thought", ""),
            "code": proposal.get("code", "")}
    if policy.description is None:
        description = f"Code for `{node.get('code', '')}`" + (f" - {proposal.get('thought')}"
                                                             if proposal.get("thought") else "")
    else:
        description = policy.describe("expansion", args, {"name": "expansion", "args": args, "id": node_id},
                                      state, runtime)
    payload = hitl.request("expansion", args, description, policy.allowed)
    if proposal.get("error"):
        payload["error"] = proposal["error"]
    code = proposal.get("code", "")
    # a proposal written by time travel (``recode_graph.persistence.timetravel``) is already approved
    decision = ({"type": "approve"} if proposal.get("approved")
                else hitl.ask(payload, hitl.required_args("code"), approval.schema,
                              bind(ledger(deps.effect_logs, runtime.store), "expansion", "expansion", args)))
    if decision["type"] == "reject":
        message = decision.get("message") or "the reviewer rejected this code"
        return {"proposal": None, "pending": {"node": node_id, "mode": proposal.get("mode", "placeholder"),
                                              "error": node.get("error", ""), "feedback": message},
                **reviewed(state, history, proposal, node, code, f"Rejected by the reviewer: {message}")}
    if decision["type"] == "edit":
        code = str(decision["edited_action"]["args"]["code"])
    try:
        strict = decision["type"] == "edit" or not proposal.get("insisted")  # see read_answer
        statements = check(state, node, code, known, check_names=strict)
    except InvalidExpansion as exc:
        # An edit that does not validate: ask again with the error, keeping the original proposal.
        return {"proposal": {**proposal, "code": code, "approved": False, "insisted": False,
                             "error": f"edited code rejected: {exc}"}}
    note = "Edited by the reviewer." if decision["type"] == "edit" else ""
    return {**apply(state, node_id, proposal.get("mode", "placeholder"), proposal.get("thought", ""), statements, {}),
            **reviewed(state, history, proposal, node, code, note)}


def reviewed(state: RecodeState, chat_history: str, proposal: dict[str, Any], node: dict[str, Any], code: str,
             note: str) -> dict[str, Any]:
    """The proposal's message (written by the expand node; a new one for a proposal time travel wrote) with the
    reviewer's decision."""
    if chat_history != "steps":
        return {}
    ident = proposal.get("message") or message_id(state, None, f"x{proposal['node']}-n{ep(state, 'next_id', 1)}")
    return {"messages": [expansion_message(node.get("code", ""), proposal.get("mode", "placeholder"),
                                           proposal.get("thought", ""), code, ident, proposal["node"], note)]}
