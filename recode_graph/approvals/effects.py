"""Tools with side effects run at most once per distinct call, even across a kill -9.

Mark a tool with ``side_effects(tool)`` (or ``tool.metadata["recode_side_effects"] = True``). Environment
``run`` actions are not marked: they are replayed to rebuild the environment.

A marked call is not a LangGraph ``@task``: LangGraph writes a finished task's result from a background
thread, so a crash right after the call can lose it and the call runs again on resume. Instead the call goes
through an *effect log* (``recode_graph.approvals.logs``) that commits synchronously:

1. ``begin``: the intent (thread, idempotency key, tool, arguments) is committed before the tool runs;
2. the tool runs (with ``idempotency_key=`` when its signature takes one);
3. ``finish``: the result is committed before the generated code sees it.

Records are keyed by content: the idempotency key is ``{thread}/{node}/{tool}/{argument digest}/{occurrence}/
{step}`` (the tree node; a digest of the arguments' checkpoint form; the occurrence among identical calls in
the statement, so two identical calls in one statement are two calls; a short hash of the LangGraph task that
runs the statement: stable when the same step is re-run after an interrupt or a crash, new when the statement
is repaired or the thread forked). A stored result is therefore only ever used for the same call, wherever the
re-run makes it.

On a re-run of the statement (after an interrupt or a crash) a call whose result is in the log returns it
without running. A call is never run again silently when the log cannot say it did not run:

- an intent with no result is uncertain (it may or may not have happened);
- the n-th marked call of the statement differs from the n-th call the log recorded for this step (the re-run
  computed another call: heap addresses, set order, a tool returning something new), so the earlier call
  happened (or may have) and this one would be an extra effect;

both interrupt for a decision in the middleware's format: ``approve`` runs it, ``respond`` supplies its result
(it does not run), ``reject`` fails the run. Decisions taken are counted and asked again first on later
re-runs, where their stored answers are bound to the same request (``recode_graph.approvals.binding``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from langgraph.errors import GraphBubbleUp

from recode_graph.approvals.logs import (  # noqa: F401  (re-exported: the log classes used to live here)
    TABLE,
    EffectLog,
    EffectLogs,
    MemoryLog,
    PostgresLog,
    Record,
    SqliteLog,
    StoreLog,
)

MARK = "recode_side_effects"
KEY_ARG = "idempotency_key"


def side_effects(tool: BaseTool | Callable[..., Any]) -> BaseTool:
    """Mark ``tool`` (a LangChain tool or a documented function) as having side effects: at most once."""
    if not isinstance(tool, BaseTool):
        if not callable(tool):
            raise ValueError(f"side_effects() takes a tool or a function, got {type(tool).__name__}")
        tool = StructuredTool.from_function(tool)
    tool.metadata = {**(tool.metadata or {}), MARK: True}
    return tool


def has_side_effects(tool: BaseTool) -> bool:
    return bool((tool.metadata or {}).get(MARK))


def args_digest(args: Any) -> str:
    """A digest of a call's arguments in their checkpoint form."""
    blob = json.dumps(args, sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def idempotency_key(thread: str, node: str, name: str, digest: str, occurrence: int, task_ns: str) -> str:
    step = hashlib.sha1(task_ns.encode()).hexdigest()[:10]
    return f"{thread}/{node}/{name}/{digest}/{occurrence}/{step}"


def position_key(thread: str, node: str, index: int, task_ns: str) -> str:
    """The row naming the call made as the statement's ``index``-th marked call in this step."""
    step = hashlib.sha1(task_ns.encode()).hexdigest()[:10]
    return f"{thread}/{node}/@{index}/{step}"


class ToolFailed(Exception):
    """A marked tool raised when it ran; a re-run of the statement raises the recorded error again."""


UNCERTAIN_DECISIONS = ("approve", "respond", "reject")


def uncertain_request(name: str, args: dict[str, Any], key: str, previous: str = "") -> dict[str, Any]:
    """The interrupt for a call that may already have run (middleware format): its intent is stored and its
    result is not, or (``previous``) an earlier run of the statement made another call at this point."""
    if previous:
        why = (f"an earlier run of this statement made another call at this point ({previous}); the re-run "
               f"computes this one instead (idempotency key {key}).\n\nTool: {name}\nArgs: {args}\n\napprove: run "
               "it; respond: give its result (it does not run); reject: fail the run.")
        state = "another call was recorded at this point"
    else:
        why = (f"{name} has side effects and may already have run: its intent was stored before the process "
               f"stopped, its result was not (idempotency key {key}).\n\nTool: {name}\nArgs: {args}\n\napprove: "
               "run it again; respond: give its result (it does not run); reject: fail the run.")
        state = "intent stored, no result"
    return {"action_requests": [{"name": name, "args": args, "description": why}],
            "review_configs": [{"action_name": name, "allowed_decisions": list(UNCERTAIN_DECISIONS)}],
            "side_effect": {"idempotency_key": key, "state": state}}


CONFLICT = "conflict"  # status of a call the re-run computed where the log recorded another one


def _earlier(log: EffectLog, thread: str, key: str, position: str) -> str:
    """What the log recorded as this step's call at ``position`` when that is another call than ``key``."""
    at = log.get(thread, position)
    if at is None or at.args == key:
        return ""
    row = log.get(thread, at.args)
    if row is None:
        return f"{at.tool}, key {at.args}"
    state = {"done": "it ran", "error": "it ran and failed"}.get(row.status, "it may have run")
    return f"{row.tool} with {row.args[:300]}: {state}"


def call_once(log: EffectLog, thread: str, key: str, name: str, args: dict[str, Any], run: Callable[[], Any],
              ask: Callable[[dict[str, Any]], dict[str, Any]], position: str = "") -> tuple[str, Any]:
    """Run a marked call at most once. Returns ("result", the call's record: ``{"output": ...}``, as ``run``
    returns it) or ("fail", reason). ``key`` names the call by content, ``position`` (optional) the statement's
    n-th marked call in this step.

    ``ask`` interrupts for a decision (``hitl.ask``); decisions already taken about this call are asked again
    first, so the statement's interrupts keep their order on every re-run."""
    record = log.get(thread, key)
    if record is not None and record.tool and record.tool != name:  # never another call's row
        return "fail", f"the effect log holds another tool's record under {key!r}; nothing ran"
    previous = ""
    if record is None and position:
        previous = _earlier(log, thread, key, position)
        if previous:
            log.mark(thread, key, name, args, CONFLICT)
            record = log.get(thread, key)
        log.mark(thread, position, name, key, "at")
    if record is not None and record.status == CONFLICT and not previous:
        previous = "another call, recorded by an earlier run"
    if record is not None and (record.status in ("intent", CONFLICT) or record.asks):
        request = uncertain_request(name, args, key, previous)
        for _ in range(record.asks):
            ask(request)  # answered before: returns the stored answer at once
        if record.status in ("intent", CONFLICT):
            decision = ask(request)
            log.count_ask(thread, key)
            if decision["type"] == "reject":
                reason = decision.get("message") or "the reviewer chose to fail the run"
                why = "may have run before a crash" if record.status == "intent" else \
                    "differs from the call an earlier run made here"
                return "fail", f"{name}({args}) {why}; {reason}"
            if decision["type"] == "respond":
                given = {"output": decision["message"]}
                log.finish(thread, key, given)
                return "result", given
            log.mark(thread, key, name, args, "intent")  # approve: run it (again)
            record = None
    if record is None or record.status == "intent":
        log.begin(thread, key, name, args)
        try:
            output = run()
        except GraphBubbleUp:
            raise
        except Exception as exc:
            log.finish(thread, key, f"{type(exc).__name__}: {exc}", status="error")
            raise
        log.finish(thread, key, output)
        return "result", output
    if record.status == "error":
        raise ToolFailed(str(record.result))
    return "result", record.result
