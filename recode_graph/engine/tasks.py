"""The primitive tasks of an execute step: one tool call, one environment step, each a LangGraph ``@task``.

When a node is re-run (resume after an interrupt, a retried step), LangGraph hands a pushed task the result
recorded for the same task name at the same position in the node (its call counter), without running it.
Replay re-runs model-written code, which need not call the same things in the same order, so a recorded
result must never go to a different call. Two ways to bind a result to its call:

- **the name** (``tool_call.<digest>``): the call's content digest is part of the task id, so another call at
  that position finds nothing recorded. But every distinct name is a new entry in the checkpoint's
  ``versions_seen`` (copied into every later checkpoint of the thread: bytes per node grow over an episode)
  and a new task object.
- **the result** (the fixed names ``tool_call`` / ``env_step``, used first): the task returns its outcome
  with the digest of the call it ran for. A recorded outcome whose digest is not the digest of the call
  being made now (another call's, or one recorded by an older version under no digest) is never used; the
  call then runs under its digest-named task, in a slot of its own.

The fixed task also never lets an outcome leave it that LangGraph would record without the digest:

- an exception is not raised out of the task: the outcome says ``error`` (its text) and the caller raises
  the exception itself on that pass (handed over through the step, so no exception object goes into the
  checkpoint or a stream); a recorded error is not replayed: the call runs again under its digest-named
  task, as LangGraph runs a failed task again on resume;
- an interrupt raised inside the call (a tool calling ``interrupt()``) is returned as ``interrupted``, and
  the call is run again under its digest-named task, where it interrupts for real. LangGraph files a task's
  interrupt and the answers to it (``Command(resume=...)``: task-specific resume values, the interrupt id
  in a resume map) under the task's id, i.e. its name and position: under the fixed name, a re-run that
  makes another interrupting call at that position would be given the answers meant for the first one.
  The price: the code of such a tool before its ``interrupt()`` runs once more on the first pass.

The choice between the two names depends only on recorded outcomes, so a re-run takes the same path and
finds the same slots.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from langgraph.config import get_config
from langgraph.errors import GraphBubbleUp, GraphInterrupt
from langgraph.func import task

from recode_graph.approvals.binding import digest as request_digest
from recode_graph.engine.toolcall import call_tool
from recode_graph.sandbox.plain import stored_args
from recode_graph.tools.base import Environment
from recode_graph.tools.grounding import step_noting_refusal

TOOL_CALL = "tool_call"
ENV_STEP = "env_step"


def sync_environment(env: Environment, task_id: str, actions: list[str]) -> None:
    """Make ``env`` be in the state reached by ``actions`` from ``reset(task_id)``."""
    current = getattr(env, "actions", None)
    if getattr(env, "task_id", None) == task_id and current == actions:
        return
    env.reset(task_id)
    if actions:
        env.replay(actions)


def tool_config(node: str) -> Any:
    """The task's config (tool runs nest under it) with the code node's id in the run metadata."""
    try:
        config = get_config()
    except RuntimeError:
        return {"metadata": {"recode_node": node}}
    return {**config, "metadata": {**(config.get("metadata") or {}), "recode_node": node}}


def call_digest(name: str, args: Any) -> str:
    """The content a task's result is bound to (``args`` in checkpoint form)."""
    return request_digest("task", name, args)[7:23]


class Step:
    """What the primitive tasks need of one execute step. It is the tasks' first argument, so the tasks are
    module-level functions (no closure per step). Task arguments are not checkpointed; only results are."""

    def __init__(self, specs: dict[str, Any], ctx: Any, pool: Any, key: str) -> None:
        self.specs, self.ctx, self.pool, self.key = specs, ctx, pool, key
        self.failed: dict[str, BaseException] = {}  # this pass's errors, by call digest, until the caller raises

    def __repr__(self) -> str:  # what a trace shows of it
        return "<step>"


def _tool_call(step: Step, name: str, payload: dict[str, Any], call_id_: str, node: str) -> Any:
    return call_tool(step.specs[name], payload, call_id_, step.ctx, tool_config(node))


def _env_step(step: Step, task_id: str, prior: list[str], action: str) -> dict[str, Any]:
    env = step.pool.acquire(step.key)
    sync_environment(env, task_id, prior)
    observation, refused = step_noting_refusal(env, action)
    return {"observation": observation, "done": env.done, "won": env.won, "score": env.score, "refused": refused}


_FUNCS: dict[str, Callable[..., Any]] = {TOOL_CALL: _tool_call, ENV_STEP: _env_step}


def _text(exc: BaseException) -> str:
    try:
        return repr(exc)[:300]
    except Exception:  # a broken __repr__
        return type(exc).__name__


# An outcome is a dict: the digest of the call it ran for under "d", and one of "v" (the call's value), "i" (it
# interrupted) or "e" (the text of its error). A thread recorded before these short keys has "digest", "value",
# "interrupted", "error": both are read (``_outcome``).
_OLD_KEYS = {"digest": "d", "value": "v", "interrupted": "i", "error": "e"}


def _bound(kind: str, digest: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """The outcome of one call with the digest it ran for; nothing escapes that LangGraph would record unbound.
    An exception goes to the caller through the step (``args[0]``), never into the checkpoint or a stream."""
    try:
        return {"d": digest, "v": _FUNCS[kind](*args)}
    except GraphInterrupt:
        return {"d": digest, "i": True}
    except GraphBubbleUp:  # e.g. a command for the parent graph: LangGraph records nothing for it
        raise
    except Exception as exc:
        args[0].failed[digest] = exc
        return {"d": digest, "e": _text(exc)}


def _outcome(recorded: Any) -> dict[str, Any] | None:
    """A recorded outcome in the short keys (one from before them translated), or None for anything else."""
    if not isinstance(recorded, dict):
        return None
    if "digest" in recorded:
        return {_OLD_KEYS.get(k, k): v for k, v in recorded.items()}
    return recorded


def _tool_call_outcome(digest: str, *args: Any) -> dict[str, Any]:
    return _bound(TOOL_CALL, digest, args)


def _env_step_outcome(digest: str, *args: Any) -> dict[str, Any]:
    return _bound(ENV_STEP, digest, args)


# The functions stay importable under their own names (the task objects are kept elsewhere), so LangGraph
# builds their runnables once per process, not once per call.
_FIXED: dict[str, Callable[..., Any]] = {TOOL_CALL: task(name=TOOL_CALL)(_tool_call_outcome),
                                         ENV_STEP: task(name=ENV_STEP)(_env_step_outcome)}


@lru_cache(maxsize=1024)
def named(kind: str, digest: str) -> Callable[..., Any]:
    """The task of ``kind`` named for one call's digest (the fallback). One task object per name, the most
    recent ones kept; its function is not importable by name, so LangGraph keeps no runnable of it in its
    process-wide cache (which would grow with every distinct call)."""
    func = _FUNCS[kind]

    def run(*args: Any) -> Any:
        return func(*args)

    return task(name=f"{kind}.{digest}")(run)


def run_bound(kind: str, digest: str, step: Step, *args: Any) -> Any:
    """Run one call (``kind``: ``tool_call`` or ``env_step``; ``step`` and ``args``: the task function's
    arguments) and return its result: the fixed-name task's outcome when it is this call's, else the
    digest-named task's."""
    outcome = _outcome(_FIXED[kind](digest, step, *args).result())
    if outcome is not None and outcome.get("d") == digest:
        if "v" in outcome:
            return outcome["v"]
        failed = step.failed.pop(digest, None) if "e" in outcome else None
        if failed is not None:  # this pass's own error
            raise failed
    # another call's outcome (a re-run that calls in another order), a call that interrupts, an error recorded
    # on an earlier pass (LangGraph runs a failed task again on resume, so does this), or anything else
    return named(kind, digest)(step, *args).result()


def run_tool(step: Step, name: str, payload: dict[str, Any], call_id_: str, node: str) -> Any:
    """One tool call's record (``recode_graph.engine.toolcall.call_tool``), replayed only to the same call."""
    return run_bound(TOOL_CALL, call_digest(name, stored_args(payload)), step, name, payload, call_id_, node)


def run_env_step(step: Step, task_id: str, prior: list[str], action: str) -> dict[str, Any]:
    """One environment step's report, replayed only to the same step from the same trajectory."""
    return run_bound(ENV_STEP, call_digest(task_id, [prior, action]), step, task_id, prior, action)
