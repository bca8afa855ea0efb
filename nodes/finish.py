"""finish: final status, score and a short report; releases the episode's environment adapter."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from recode_graph.deps import AgentDeps
from recode_graph.engine.conversation import final_message
from recode_graph.engine.episode import ep
from recode_graph.engine.events import emit
from recode_graph.engine.history import episode_turn, prefix
from recode_graph.engine.hooks import episode_hooks
from recode_graph.engine.state import UNSET, RecodeState
from recode_graph.engine.tree import stats
from recode_graph.models.errors import ModelError
from recode_graph.models.wrapped import model_name


def finish(state: RecodeState, runtime: Runtime[Any], *, deps: AgentDeps) -> dict[str, Any]:
    status = state.get("status", "running")
    if status == "running":
        status = "success"
    pool = deps.pool(deps.env_key(runtime))
    if pool is not None:
        pool.release(ep(state, "session", ""))
    deps.end_episode(ep(state, "session", ""), ep(state, "episode_key", ""))
    score = state.get("score")
    if score is None:
        score = 1.0 if status == "success" and pool is None else 0.0
    emit("finished", status=status, reason=state.get("reason", ""), score=score,
         tree=stats(state.get("tree", {})), usage=state.get("usage", {}))
    if ep(state, "run_error"):  # the thread already says why (nodes.expand.no_model); the run fails with it
        raise ModelError(str(ep(state, "run_error")))
    extra, _ = episode_hooks(deps, "after_agent", {**state, "status": status, "score": score}, runtime)
    messages = list(extra.pop("messages", None) or [])  # the steps' messages were written as they happened
    answer = final_message(state, status, model_name(deps.known_model(runtime)))
    answer.id = f"{prefix(str(ep(state, 'session', '')), episode_turn(state))}-answer"
    unset = {key: empty for key, empty in UNSET.items() if key not in state}  # the output has every field
    return {**unset, **extra, "status": status, "score": score, "messages": [*messages, answer]}
