"""expand: one model call for the pending node; parse, validate, attach (or propose for review)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langgraph.runtime import Runtime
from recode_graph.tools.grounding import mode_of

from recode_graph.deps import AgentDeps
from recode_graph.engine import prompts
from recode_graph.engine.code import InvalidExpansion, UndefinedNames, answer_digest, answer_text, parse_answer
from recode_graph.engine.episode import ep
from recode_graph.engine.events import emit
from recode_graph.engine.expander import apply, check, known_names, rerun_hint, system_text
from recode_graph.engine.history import expansion_message, message_id, rewrite_message
from recode_graph.engine.hooks import MiddlewareEnd, amodel_call, expansion_metadata, model_call
from recode_graph.engine.state import RecodeState
from recode_graph.engine.tree import TreeDraft, fail
from recode_graph.models.errors import ModelError
from recode_graph.models.usage import usage_of


def failure_update(state: RecodeState, node_id: str, reason: str, max_repairs: int,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The node failed for good: repair an ancestor or end the episode."""
    draft = TreeDraft(state.get("tree"), ep(state, "next_id", 1))
    if extra:
        draft.set(node_id, **extra)
    outcome = fail(draft, node_id, reason, max_repairs)
    emit("failed", id=node_id, reason=reason)
    update: dict[str, Any] = {"tree": draft.write(), "pending": outcome.pending, "cursor": outcome.cursor,
                              "proposal": None}
    if outcome.failed:
        update.update(status="failed", reason=outcome.failed)
    return update


@dataclass
class Request:
    """One model call to make: the messages and what is needed to read the answer."""

    messages: list[BaseMessage]
    node_id: str
    pending: dict[str, Any]
    has_env: bool
    grounded: bool = False


def prepare(state: RecodeState, runtime: Runtime[Any], deps: AgentDeps) -> Request | dict[str, Any]:
    """The prompt for the pending node, or an update when no model call is allowed (limits)."""
    settings = deps.settings_for(runtime)
    pending = dict(ep(state, "pending") or {})
    node_id = pending["node"]
    node = state["tree"][node_id]
    if state.get("usage", {}).get("calls", 0) >= settings.max_model_calls:
        return {"status": "failed", "reason": f"model call limit reached ({settings.max_model_calls})",
                "pending": None}
    if node.get("depth", 0) + 1 > settings.max_depth:
        return failure_update(state, node_id, f"depth limit reached ({settings.max_depth})",
                              settings.max_repairs)
    pool = deps.pool(deps.env_key(runtime))
    env = pool.acquire(ep(state, "session", "")) if pool is not None else None
    system = system_text(deps, env, state.get("task_type", ""))
    messages = prompts.messages(system, node, pending, state.get("variables", {}))  # type: ignore[arg-type]
    return Request(messages=messages, node_id=node_id, pending=pending, has_env=env is not None,
                   grounded=mode_of(env) != "off")


def read_answer(state: RecodeState, runtime: Runtime[Any], deps: AgentDeps, request: Request,
                response: Any) -> dict[str, Any]:
    """Parse and validate the answer; attach it, propose it for review, or re-ask with a hint."""
    settings = deps.settings_for(runtime)
    node_id, pending = request.node_id, request.pending
    node = state["tree"][node_id]
    usage = usage_of(response)
    text = answer_text(getattr(response, "content", ""))  # any content: text blocks only, never raises
    mode = pending.get("mode", "placeholder")
    known = known_names(deps, request.has_env, ep(state, "session", ""), request.grounded)
    digest = answer_digest(text)
    repeated = digest == pending.get("rejected")  # a deterministic model will not change its mind
    # the message this answer becomes, under the id its streamed chunks carried
    ident = message_id(state, response, f"x{node_id}-c{state.get('usage', {}).get('calls', 0)}")
    shown = Shown(settings.chat_history)
    insisted = False
    try:
        thought, code = parse_answer(text)
        try:
            statements = check(state, node, code, known)
        except UndefinedNames:
            if not repeated:
                raise
            # The model insists: run it; the statement that fails is repaired with its traceback.
            statements, insisted = check(state, node, code, known, check_names=False), True
        rerun = rerun_hint(node, code) if mode == "repair" else ""
        if rerun:
            raise InvalidExpansion(rerun)
    except InvalidExpansion as exc:
        rewrites = node.get("rewrites", 0) + 1
        node_usage = _add(node.get("usage") or {}, usage)
        emit("rejected", id=node_id, hint=str(exc))
        if rewrites > settings.max_rewrites or repeated:
            why = "the same invalid answer twice" if repeated else f"no valid code after {rewrites} answers"
            update = failure_update(state, node_id, f"{why}; last: {exc}",
                                    settings.max_repairs, {"rewrites": rewrites, "usage": node_usage})
        else:
            update = {"tree": {node_id: {"rewrites": rewrites, "usage": node_usage}},
                      "pending": {**pending, "hint": str(exc), "rejected": digest}}
        return {**update, "usage": usage, **shown(rewrite_message(node.get("code", ""), str(exc), ident, node_id))}
    if settings.approve_expansions:
        proposal = {"node": node_id, "mode": mode, "thought": thought, "code": code, "usage": usage}
        if shown:
            proposal["message"] = ident  # the review node rewrites it with the reviewer's decision
        message = expansion_message(node.get("code", ""), mode, thought, code, ident, node_id, "Waiting for review.")
        return {"proposal": {**proposal, "insisted": True} if insisted else proposal, "usage": usage,
                **shown(message)}
    message = expansion_message(node.get("code", ""), mode, thought, code, ident, node_id)
    return {**apply(state, node_id, mode, thought, statements, usage), "usage": usage, **shown(message)}


class Shown:
    """The model answer's message as a state update: ``{"messages": [it]}``, or nothing with
    ``chat_history="answer"``."""

    def __init__(self, chat_history: str) -> None:
        self.on = chat_history == "steps"

    def __bool__(self) -> bool:
        return self.on

    def __call__(self, message: BaseMessage) -> dict[str, Any]:
        return {"messages": [message]} if self.on else {}


def announce(state: RecodeState, request: Request) -> None:
    """Tell a watching UI that the model is now writing code for this node (the call can take a while)."""
    emit("expanding", id=request.node_id, call=state["tree"][request.node_id].get("code", ""),
         mode=request.pending.get("mode", "placeholder"))


def expand(state: RecodeState, runtime: Runtime[Any], *, deps: AgentDeps) -> dict[str, Any]:
    request = prepare(state, runtime, deps)
    if not isinstance(request, Request):
        return request
    metadata = expansion_metadata(state, request.node_id, request.pending.get("mode", "placeholder"))
    announce(state, request)
    try:
        response, extra = model_call(deps, state, runtime, request.messages, metadata)
    except MiddlewareEnd as end:
        return ended_by_middleware(str(end))
    except ModelError as exc:  # no model (or a bad spec) for this run: the chat says so, the run fails
        return no_model(state, exc)
    return merged(read_answer(state, runtime, deps, request, response), extra)


async def aexpand(state: RecodeState, runtime: Runtime[Any], *, deps: AgentDeps) -> dict[str, Any]:
    """The same node for ``ainvoke``/``astream``: the model call awaits instead of holding a thread; the
    prompt (environment resources, files) is prepared off the event loop."""
    request = await asyncio.to_thread(prepare, state, runtime, deps)
    if not isinstance(request, Request):
        return request
    metadata = expansion_metadata(state, request.node_id, request.pending.get("mode", "placeholder"))
    announce(state, request)
    try:
        response, extra = await amodel_call(deps, state, runtime, request.messages, metadata)
    except MiddlewareEnd as end:
        return ended_by_middleware(str(end))
    except ModelError as exc:  # no model (or a bad spec) for this run: the chat says so, the run fails
        return no_model(state, exc)
    return merged(read_answer(state, runtime, deps, request, response), extra)


def merged(update: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The node's update and the model middleware's, the messages of both kept (the answer's first)."""
    out = {**update, **extra}
    if "messages" in update and "messages" in extra:
        out["messages"] = [*update["messages"], *extra["messages"]]
    return out


def no_model(state: RecodeState, exc: ModelError) -> dict[str, Any]:
    """The run has no usable model: the one-line reason goes into the thread as an AI message (chat UIs show
    it) and the finish node fails the run with it (``run_error``)."""
    message = AIMessage(content=f"{type(exc).__name__}: {exc}", id=message_id(state, None, "model-error"),
                        response_metadata={"recode_status": "failed"})
    return {"status": "failed", "reason": str(exc), "pending": None, "proposal": None, "run_error": str(exc),
            "messages": [message]}


def ended_by_middleware(reason: str) -> dict[str, Any]:
    return {"status": "failed", "reason": reason, "pending": None, "proposal": None}


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}
