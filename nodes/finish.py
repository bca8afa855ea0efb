"""finish: final status, score and a short report; releases the episode's environment adapter."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from recode_graph.deps import AgentDeps
from recode_graph.engine.conversation import final_message
from recode_graph.engine.events import emit
from recode_graph.engine.history import step_messages
from recode_graph.engine.hooks import episode_hooks
from recode_graph.engine.state import RecodeState
from recode_graph.engine.tree import stats
from recode_graph.models.wrapped import model_name


def finish(state: RecodeState, runtime: Runtime[Any], *, deps: AgentDeps) -> dict[str, Any]:
    status = state.get("status", "running")
    if status == "running":
        status = "success"
    pool = deps.pool(deps.env_key(runtime))
    if pool is not None:
        pool.release(state.get("session", ""))
    deps.end_episode(state.get("session", ""), state.get("episode_key", ""))
    score = state.get("score")
    if score is None:
        score = 1.0 if status == "success" and pool is None else 0.0
    emit("finished", status=status, reason=state.get("reason", ""), score=score,
         tree=stats(state.get("tree", {})), usage=state.get("usage", {}))
    extra, _ = episode_hooks(deps, "after_agent", {**state, "status": status, "score": score}, runtime)
    messages = list(extra.pop("messages", None) or [])
    if deps.settings_for(runtime).chat_history == "steps":
        episode = str(len(state.get("messages") or []))  # as in the execute node's tool-call ids
        work = step_messages(state.get("tree") or {}, state.get("trajectory") or [], state.get("session", ""),
                             episode)
        messages = [*work, *messages]
    answer = final_message(state, status, model_name(deps.known_model(runtime)))
    return {**extra, "status": status, "score": score, "messages": [*messages, answer]}
