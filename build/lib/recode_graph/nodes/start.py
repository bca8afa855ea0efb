"""start: read the input (free instruction or an environment task) and create the root node."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from recode_graph.deps import AgentDeps
from recode_graph.events import emit
from recode_graph.runinfo import thread_key
from recode_graph.state import RecodeState
from recode_graph.tools.base import EnvError
from recode_graph.tree import ROOT, root_node


def start(state: RecodeState, runtime: Runtime[Any], *, deps: AgentDeps) -> dict[str, Any]:
    pool_key = deps.env_key(runtime)
    pool = deps.pool(pool_key)
    instruction = state.get("instruction") or ""
    observation = state.get("observation") or ""
    session = state.get("session") or thread_key()
    update: dict[str, Any] = {"session": session}
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
        raise ValueError("input needs an 'instruction' (or an environment and a 'task_id')")
    root = root_node()
    emit("node_added", id=ROOT, parent=None, code=root["code"], depth=0)
    update.update(
        instruction=instruction, observation=observation, tree=Overwrite({ROOT: root}), next_id=1, cursor=ROOT,
        pending={"node": ROOT, "mode": "placeholder"}, proposal=None,
        variables=Overwrite({"instruction": instruction, "observation": observation}), trajectory=Overwrite([]),
        usage=Overwrite({}), status="running", reason="", answer=None, score=None,
    )
    return update

