"""execute: run the statement under the cursor in the sandbox, then move on depth-first.

Outcomes: done → next pending statement; placeholder call → expand it; runtime error → repair it
(bounded); the environment finished or ``final_answer`` was called → finish.
"""

from __future__ import annotations

import asyncio
import contextvars
from functools import partial
from typing import Any

from langgraph.runtime import Runtime

from recode_graph.deps import AgentDeps
from recode_graph.engine.asking import AskFirst, marker
from recode_graph.engine.episode import ep
from recode_graph.engine.events import emit
from recode_graph.engine.history import (
    call_message,
    episode_turn,
    refused_message,
    step_call_id,
    step_messages,
    unanswered,
)
from recode_graph.engine.primitives import Primitives
from recode_graph.engine.recorder import ControlFlow, StepRecorder, settle
from recode_graph.engine.replan import replan_note
from recode_graph.engine.state import RecodeState, variables_update
from recode_graph.engine.statesize import StateMeter
from recode_graph.engine.toolcall import tool_context
from recode_graph.engine.tree import ROOT, TreeDraft, advance, close_episode, fail
from recode_graph.sandbox import Budget


def execute(state: RecodeState, runtime: Runtime[Any], *, deps: AgentDeps,
            loop: asyncio.AbstractEventLoop | None = None) -> dict[str, Any]:
    settings = deps.settings_for(runtime)
    node_id = ep(state, "cursor")
    if node_id is None:
        return {"status": "success"}
    node = state["tree"][node_id]
    if node.get("call") and node.get("status") == "pending":
        # the step that moved the cursor here asks for the expansion itself (tree.placeholder_pending); this is
        # for a thread checkpointed before it did (a cursor on a placeholder with no request yet)
        return {"pending": {"node": node_id, "mode": "placeholder"}}
    pool = deps.pool(deps.env_key(runtime))
    trajectory = state.get("trajectory", [])
    prims = Primitives(
        tools=deps.tools, settings=settings, env_pool=pool, thread_key=ep(state, "session", ""),
        task_id=str(state.get("task_id", "")),
        prior_actions=[s["args"]["action"] for s in trajectory if s["name"] == "run"],
        state=state, runtime=runtime, effects=deps.effect_logs,
        tool_context=tool_context(state, runtime, deps, loop), specs=deps.tool_specs(),
        episode=episode_turn(state), response_format=deps.response_format,
    )
    limits = settings.limits
    meter = StateMeter.start(limits.max_state_bytes, state.get("variables", {}), trajectory, ep(state, "sizes"),
                             limits.max_episode_bytes)
    recorder = StepRecorder(node=node_id, meter=meter)
    budget = Budget(settings.limits)
    functions = prims.functions(recorder, budget)
    try:
        ran = deps.run_statement(node["code"], state.get("variables", {}), functions, settings.limits, budget,
                                 ep(state, "session", ""), ep(state, "episode_key", ""))
        if isinstance(recorder.halt, AskFirst):
            return announced(state, node_id, recorder.halt)
        result = settle(ran, recorder)
    except ControlFlow as flow:
        raise flow.inner from None
    result = meter.settle(result)  # the episode's state stays under Limits.max_state_bytes
    draft = TreeDraft(state.get("tree"), ep(state, "next_id", 1))
    update: dict[str, Any] = {"trajectory": recorder.steps, **recorder.update}
    if settings.chat_history == "steps":
        update["messages"] = step_messages(state, recorder.steps) + list(recorder.update.get("messages") or [])
        if ep(state, "asking") and result.error_type == "ActionRejected":
            written = update["messages"]
            update["messages"] += [refused_message(c, result.error) for c in unanswered(state["messages"], written)]
    if ep(state, "asking"):
        update["asking"] = None
    if recorder.env_state is not None:
        update["score"] = float(recorder.env_state["score"])
    stdout = result.stdout + "".join(f"[note] {n}\n" for n in result.notes)
    update.update(meter.ledger_update(result.variables or meter.before, stdout))  # what the host keeps
    if not result.ok:
        draft.set(node_id, stdout=stdout)
        emit("executed", id=node_id, ok=False, error=result.error, stdout=stdout)
        repairs = 0 if result.error_type == "RunFailed" else settings.max_repairs  # a reviewer ended the run
        outcome = fail(draft, node_id, result.error, repairs, repair_self=True)
        update.update(tree=draft.write(), cursor=outcome.cursor, pending=outcome.pending)
        if result.variables:
            update["variables"] = variables_update(state.get("variables", {}), result.variables)
        if outcome.failed:
            update.update(status="failed", reason=outcome.failed)
        return update
    draft.set(node_id, status="done", stdout=stdout, error="")
    emit("executed", id=node_id, ok=True, stdout=stdout, actions=len(recorder.steps))
    update["variables"] = variables_update(state.get("variables", {}), result.variables)
    if result.stopped:
        close_episode(draft, node_id)
        update.update(tree=draft.write(), cursor=None, pending=None)
        if recorder.end_reason:  # a middleware ended the run (ToolCallLimitMiddleware, exit_behavior="end")
            update.update(status="failed", reason=recorder.end_reason)
        elif recorder.answer is not None and pool is None:
            update.update(status="success", answer=recorder.answer, reason="final answer",
                          structured_response=recorder.structured)
        elif recorder.answer is not None:  # an environment episode is judged by the environment
            update.update(status="success" if _won(state, recorder) else "failed", answer=recorder.answer,
                          reason="final answer given" + ("" if _won(state, recorder) else
                                                         " before the task was completed"))
        else:
            won = bool(recorder.env_state and recorder.env_state.get("won"))
            update.update(status="success" if won else "failed",
                          reason="task completed" if won else "the environment ended the episode")
        return update
    outcome = advance(draft, node_id, result.variables, settings.max_repairs)
    if outcome.cursor is None and not outcome.failed and pool is not None:
        # The whole plan ran but the task is not done: re-plan from the current state (bounded by the
        # root's repair budget) instead of ending the episode as the reference implementation does.
        steps = state.get("trajectory", []) + recorder.steps
        tree = {**(state.get("tree") or {}), **{k: draft.get(k) for k in draft.updates}}
        note = replan_note(tree, {**state.get("variables", {}), **result.variables}, steps,
                           pool.acquire(ep(state, "session", "")))
        outcome = fail(draft, ROOT, note, settings.max_repairs, repair_self=True)
        if outcome.failed:
            outcome.failed = "the plan finished before the task was completed"
    update.update(tree=draft.write(), cursor=outcome.cursor, pending=outcome.pending)
    if outcome.failed:
        update.update(status="failed", reason=outcome.failed)
    elif outcome.cursor is None:
        update.update(status="success", reason="all steps done")
    return update


async def aexecute(state: RecodeState, runtime: Runtime[Any], *, deps: AgentDeps) -> dict[str, Any]:
    """``execute`` for async runs. The statement runs on the agent's own thread pool: its primitive calls
    are LangGraph tasks that need the event loop's default executor, so blocking one of those threads
    while waiting for them would deadlock once every default thread waits (6 threads on 2 cores)."""
    loop = asyncio.get_running_loop()
    call = partial(execute, state, runtime, deps=deps, loop=loop)
    return await loop.run_in_executor(deps.executor(), contextvars.copy_context().run, call)


def announced(state: RecodeState, node_id: str, ask: AskFirst) -> dict[str, Any]:
    """The statement's first call needs review: show it as the newest message, then run the statement again
    (nothing ran: ``recode_graph.engine.asking``)."""
    ident = step_call_id(str(ep(state, "session", "")), episode_turn(state), node_id, 1)  # the statement's first
    return {"messages": [call_message(ask.name, ask.call_args, ident, node_id)], "asking": marker(node_id, ask.name,
                                                                                                ask.call_args)}


def _won(state: RecodeState, recorder: StepRecorder) -> bool:
    if recorder.env_state is not None:
        return bool(recorder.env_state.get("won"))
    return False
