"""One statement in one worker, seen from the host: the request, the primitive calls the worker makes back,
the reply. The host treats everything the worker sends as hostile (``recode_graph.sandbox.wire``) and every read
has a deadline.

Time: the worker's own budget counts its computation only (``Limits.max_seconds``; a primitive call pauses it).
The host's hard deadline is the same budget plus a grace period, moved on by the time the host spends serving
primitive calls, so a loop over a slow tool is not killed; that time has its own budget
(``Limits.max_tool_seconds``, enforced by the host's ``Budget.paused`` around each primitive) and a statement
makes at most ``Limits.max_calls`` calls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from itertools import chain
from typing import Any

from recode_graph.sandbox import exits, wire
from recode_graph.sandbox.budget import BudgetExceeded, tool_time_spent
from recode_graph.sandbox.handles import WorkerDied, _Handle
from recode_graph.sandbox.plain import restore, stored
from recode_graph.sandbox.restricted import EpisodeStop, ExecResult, Limits

GRACE = 0.5  # seconds past max_seconds before the host kills a worker (its own budget reports first)


@dataclass
class _Call:
    stopped: str = ""


def failure(error_type: str, message: str) -> ExecResult:
    return ExecResult(ok=False, error=f"{error_type}: {message}", error_type=error_type)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def exact_data(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is made of the builtin JSON types only (no subclass, whose unpickling would import
    and run code in the worker); C-level passes a level at a time (``_exact_items``)."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is list:
        return _exact_items(value, depth)
    if kind is dict:
        return set(map(type, value)) <= {str} and _exact_items(list(value.values()), depth)
    return False


def _exact_items(items: list[Any], depth: int) -> bool:
    """``exact_data`` for every item: the items' lists and dicts are flattened into the next level's items."""
    while True:
        kinds = set(map(type, items))
        if kinds <= _SCALARS:
            return True
        if depth > 64 or not kinds <= _SCALARS | {list, dict}:
            return False
        inner: list[Any] = []
        if list in kinds:
            inner.extend(chain.from_iterable(items if len(kinds) == 1 else (v for v in items if type(v) is list)))
        if dict in kinds:
            dicts = items if len(kinds) == 1 else [v for v in items if type(v) is dict]
            if not set(map(type, chain.from_iterable(dicts))) <= {str}:
                return False
            inner.extend(chain.from_iterable(map(dict.values, dicts)))
        items, depth = inner, depth + 1


def variables_for(handle: _Handle, variables: dict[str, Any]) -> dict[str, Any]:
    """The variables part of a request. A worker serves one run and keeps the run's variables from its last
    statement (``handle.sent``): then only the names whose value is not the one it was sent or sent back (by
    identity: no walk of unchanged values) and the names gone cross; else all of them. Only builtin types cross
    (the worker unpickles them); a subclass crosses as its plain data, and ``variables`` then holds that too."""
    held = handle.sent
    if held is not None:
        base, before = held
        changed = {k: v for k, v in variables.items() if k not in before or before[k] is not v}
        gone = [k for k in before if k not in variables]
        part: dict[str, Any] = {"base": base, "variables": changed, "deleted": gone}
    else:
        part = {"base": None, "variables": variables, "deleted": []}
    if not exact_data(part["variables"]):
        part["variables"] = json.loads(json.dumps(part["variables"], default=str))
        variables.update(part["variables"])
    return part


def timed_out(limits: Limits) -> ExecResult:
    return failure("TimeoutError", f"timed out after {limits.max_seconds:g} s of computation in one statement "
                   "(time waiting for tools does not count): the statement was stopped. Avoid huge numbers, "
                   "endless iterators and very long computations.")


def execute(handle: _Handle, code: str, variables: dict[str, Any], functions: Mapping[str, Callable[..., Any]],
            limits: Limits) -> tuple[ExecResult, bool]:
    """Run ``code`` in the worker of ``handle``; (the result, whether the worker may run the run's next statement).
    Raises ``WorkerDied`` when the worker is gone before it got the statement."""
    new_token = f"{handle.pid}.{handle.runs}"  # what the worker will hold after this statement (unique per worker)
    if handle.limits[0] is not limits:  # a tuple pickles in a tenth of the dataclass's time
        handle.limits = (limits, tuple(getattr(limits, f.name) for f in fields(limits)))
    request = {"code": code, "functions": sorted(functions), "limits": handle.limits[1], "new_token": new_token,
               **variables_for(handle, variables)}
    try:
        handle.send(("run", request))
    except (OSError, EOFError):
        raise WorkerDied() from None
    handle.sent = None  # until the worker reports the statement done
    handle.runs += 1
    handle.memory_mb = limits.max_memory_mb
    call = _Call()
    deadline = time.monotonic() + limits.max_seconds + GRACE  # moved on by the time spent serving calls
    calls = 0
    tool_time = 0.0  # seconds the host spent serving the statement's primitive calls
    while True:
        left = deadline - time.monotonic()
        try:
            ready = left > 0 and handle.wait(left)
        except (OSError, EOFError):
            ready = True  # recv below reports it
        if not ready:
            return _ended(call, variables, timed_out(limits)), False
        try:
            handle.read_deadline(deadline - time.monotonic())  # a worker that stalls mid-message
            data = handle.conn.recv_bytes(limits.max_result_bytes + 65536)
        except EOFError:
            return _ended(call, variables, died(handle, limits)), False
        except BlockingIOError:
            return _ended(call, variables, failure(
                "TimeoutError", f"timed out after {limits.max_seconds:g} s: the sandbox stalled while "
                "sending its result")), False
        except OSError:
            return _ended(call, variables, failure(
                "MemoryError", f"result too large (more than {limits.max_result_bytes / 2**20:g} MB); keep "
                "only what later steps need")), False
        try:
            message = wire.loads(data)
            kind = message["t"]
        except (wire.WireError, KeyError, TypeError):
            return _ended(call, variables, failure("WorkerError", "the sandbox sent an invalid message")), False
        del data
        if kind == "need":  # the worker no longer holds what the delta was based on: everything, once
            if request["base"] is None:
                return _ended(call, variables, failure("WorkerError", "the sandbox sent an invalid message")), False
            handle.sent = None
            request = {**request, **variables_for(handle, variables)}
            try:
                handle.send(("run", request))
            except (OSError, EOFError):
                return _ended(call, variables, died(handle, limits)), False
            continue
        if kind == "done":
            try:
                result, keep = _done(message, variables, limits)
                handle.sent = (new_token, result.variables) if keep else None
            except (KeyError, TypeError, ValueError):
                return _ended(call, variables, failure("WorkerError", "the sandbox sent an invalid result")), False
            if call.stopped:  # the host decides that the statement ended (final answer, environment done)
                result.ok, result.error, result.error_type, result.stopped = True, "", "", call.stopped
            else:
                result.stopped = ""
            return result, keep
        if kind != "call":
            return _ended(call, variables, failure("WorkerError", "the sandbox sent an invalid message")), False
        calls += 1
        if calls > limits.max_calls:
            return _ended(call, variables, failure(
                "RuntimeError", f"too many calls: a statement may make {limits.max_calls} tool or environment "
                "calls (Limits.max_calls); loop over fewer items or split the work")), False
        if tool_time > limits.max_tool_seconds:  # (the host's Budget.paused refuses it first, with the same words)
            return _ended(call, variables, failure("TimeoutError", tool_time_spent(limits, tool_time))), False
        started = time.monotonic()
        reply = serve_call(message, functions, call)
        took = time.monotonic() - started
        deadline += took  # waiting for a tool is not the statement's computation
        tool_time += took
        try:
            handle.send(reply)
        except (OSError, EOFError):
            return _ended(call, variables, died(handle, limits)), False


def serve_call(message: dict[str, Any], functions: Mapping[str, Callable[..., Any]], call: _Call
               ) -> tuple[Any, ...]:
    name, args, kwargs = message.get("name"), message.get("args"), message.get("kwargs")
    if not (isinstance(name, str) and name in functions and isinstance(args, list) and isinstance(kwargs, dict)):
        return ("error", "TypeError", "invalid primitive call")
    if call.stopped:  # the statement has ended: the generated code caught the stop; it calls nothing more
        return ("stop", call.stopped)
    try:  # arguments arrive in their checkpoint form: the host's functions get values, as in-process
        value = functions[name](*restore(args), **{k: restore(v) for k, v in kwargs.items()})
    except EpisodeStop as stop:
        call.stopped = str(stop) or "stopped"
        return ("stop", call.stopped)
    except BudgetExceeded as spent:  # the tool budget: raised in the statement, which cannot catch it
        return ("budget", str(spent))
    except Exception as exc:  # a primitive's error is raised in the statement, as in-process
        return ("error", type(exc).__name__, str(exc)[:4000])
    return ("ok", stored(value))


def _done(message: dict[str, Any], variables: dict[str, Any], limits: Limits) -> tuple[ExecResult, bool]:
    changed, deleted = message["changed"], message["deleted"]
    if not (isinstance(changed, dict) and isinstance(deleted, list)):
        raise TypeError("bad result")
    gone = set(deleted)
    out = {k: v for k, v in variables.items() if k not in gone} if gone else dict(variables)
    for name, value in changed.items():
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError("bad variable name")
        out[name] = value
    notes = [str(n)[:300] for n in message["notes"][:50]]
    result = ExecResult(ok=bool(message["ok"]), stdout=str(message["stdout"])[: limits.max_output + 100],
                        error=str(message["error"])[:2000], error_type=str(message["error_type"])[:100],
                        variables=out, notes=notes)
    return result, message["recycle"] is False


def died(handle: _Handle, limits: Limits) -> ExecResult:
    """The worker's channel closed mid-statement: the error says why it ended (signal, memory, exit)."""
    ended = handle.ended()
    handle.kill()
    return failure(*exits.describe(ended, limits.max_memory_mb))


def _ended(call: _Call, variables: dict[str, Any], result: ExecResult) -> ExecResult:
    """The worker was lost: the statement failed, unless the host had already ended it (final answer)."""
    if call.stopped:
        return ExecResult(ok=True, stopped=call.stopped, variables=variables)
    result.variables = variables
    return result
