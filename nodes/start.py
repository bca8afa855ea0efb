"""start: read the input (free instruction or an environment task) and create the root node."""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime
from langgraph.types import Overwrite
from recode_graph.tools.base import EnvError

from recode_graph.compat import load as private
from recode_graph.deps import AgentDeps
from recode_graph.engine.conversation import earlier_turns, pending_question, text_of
from recode_graph.engine.episode import ep
from recode_graph.engine.events import emit
from recode_graph.engine.hooks import episode_hooks
from recode_graph.engine.runctx import chosen
from recode_graph.engine.runinfo import thread_key
from recode_graph.engine.state import OUTCOME, RecodeState
from recode_graph.engine.tree import ROOT, root_node


def has_checkpointer() -> bool:
    """Whether this run can be paused and resumed: a checkpointer of the agent, its parent or the server."""
    return get_config().get("configurable", {}).get(private("CONFIG_KEY_CHECKPOINTER")) is not None


def start(state: RecodeState, runtime: Runtime[Any], *, deps: AgentDeps) -> dict[str, Any]:
    settings = deps.settings_for(runtime)  # an invalid run context (e.g. approve) fails the run here
    if settings.approval.reviews_anything and not has_checkpointer():
        raise ValueError("approve= pauses runs for a human decision, which needs a checkpointer: pass "
                         "checkpointer=InMemorySaver() (or another saver) to create_recode_agent, or compile the "
                         "graph that holds this agent with one (the LangGraph server supplies its own)")
    pool_key = deps.env_key(runtime)
    pool = deps.pool(pool_key)
    messages = list(state.get("messages") or [])
    question = pending_question(messages)  # a chat turn: the last human message is the task
    instruction = text_of(question) if question is not None else str(state.get("instruction") or "")
    observation = str(state.get("observation") or "")
    if question is not None and any(m.type == "ai" for m in messages):
        observation = ""  # a follow-up chat turn: the state's observation is the previous episode's
    session = ep(state, "session") or thread_key()
    deps.new_episode(session, ep(state, "episode_key", ""))  # an earlier episode's in-memory values are gone
    episode: dict[str, Any] = {"session": session, "run_context": chosen(getattr(runtime, "context", None)),
                               "episode_key": uuid.uuid4().hex, "next_id": 1, "cursor": ROOT,
                               "pending": {"node": ROOT, "mode": "placeholder"}, "turn": len(messages)}
    update: dict[str, Any] = {}
    if pool is not None:
        task_id = state.get("task_id")
        env = pool.acquire(session)
        if task_id is None or task_id == "":
            tasks = env.list_tasks()
            if not tasks:
                raise EnvError(f"{env.name}: no tasks in this split; pass task_id")
            task_id = tasks[0]
        reset = env.reset(task_id)
        instruction, observation = instruction or reset.instruction, reset.observation
        update.update(task_id=reset.task_id, task_type=reset.task_type)
    elif not instruction.strip():
        raise ValueError("input needs 'messages' ending with a human message, an 'instruction', or an "
                         "environment and a 'task_id'")
    history = earlier_turns(messages[:-1] if question is not None else messages)
    # earlier turns are shown to the root expansion through the value of its `observation` argument
    seen = f"{history}\n\n{observation}".strip() if history else observation
    if question is None:
        update["messages"] = [HumanMessage(content=instruction)]
    root = root_node()
    emit("node_added", id=ROOT, parent=None, code=root["code"], depth=0)
    update.update({key: value for key, value in (("instruction", instruction), ("observation", observation))
                   if state.get(key, "") != value})  # written when they change
    update.update(
        tree=Overwrite({ROOT: root}),
        variables=Overwrite({"instruction": instruction, "observation": seen}), trajectory=Overwrite([]),
        usage=Overwrite({}), status="running",
        # an earlier episode's outcome is cleared; a thread that has none gets these from finish (a channel never
        # written costs a checkpoint nothing, one written costs a version string in every later checkpoint)
        **{key: empty for key, empty in OUTCOME.items() if state.get(key) not in (None, empty)},
    )
    view = {**state, "instruction": instruction, "observation": observation,
            "messages": messages + list(update.get("messages") or [])}
    extra, stopped = episode_hooks(deps, "before_agent", view, runtime)  # middleware's before_agent
    if stopped:
        update.update(status="failed", reason=stopped)
        del episode["pending"]
    # the control values start afresh (an earlier episode's proposal, asking, ... are gone): engine.episode
    update["episode"] = Overwrite({k: v for k, v in episode.items() if v is not None})
    return {**extra, **update, "messages": list(update.get("messages") or []) + list(extra.get("messages") or [])}

