"""Statements in separate, limited worker processes (the host side; the worker is ``recode_graph.sandbox.worker``).

A ``WorkerPool`` keeps pre-started worker processes and hands one to each statement. The host thread that
runs the statement sends the code, the variables (checkpoint form) and the primitive names, then serves the
worker's primitive calls with the host's own functions (LangGraph tasks, approvals, streaming: they run in
the host thread, in the node's context, exactly as in-process) until the worker reports the statement done.
Limits: wall time per statement (time inside primitive calls counts; past ``max_seconds`` + a grace period the
worker is killed and replaced), primitive calls per statement (``max_calls``), the worker's address space
(``max_memory_mb``), the size of every message the host accepts (``max_result_bytes``; it is JSON, never
unpickled). Whatever goes wrong in a worker comes back as an ordinary failed ``ExecResult`` (timed out, memory
limit, result too large, worker died) for the repair prompt. While the host waits it holds no lock and not the
GIL, so other episodes and the event loop keep running.

The default pool is process-wide and started lazily (``default_pool``): workers carry no state of an agent or
an episode between statements (only a session's non-plain values, used when the same session's next statement
lands on the same worker), so every agent of a process can share them; it is closed at exit, and a forked
child starts its own. An agent can be given its own ``WorkerPool`` instead.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

from recode_graph.sandbox import exits, wire
from recode_graph.sandbox import jail as _jail
from recode_graph.sandbox.handles import WorkerDied, _Handle, _Zygote
from recode_graph.sandbox.plain import restore, stored
from recode_graph.sandbox.restricted import EpisodeStop, ExecResult, Limits

GRACE = 0.5  # seconds past max_seconds before the host kills a worker (its own budget reports first)
MAX_HOLDERS = 4096
log = logging.getLogger("recode_graph.sandbox")


@dataclass
class _Call:
    stopped: str = ""


def _failure(error_type: str, message: str) -> ExecResult:
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


class WorkerPool:
    """Pre-started sandbox worker processes, reused across statements, episodes and agents.

    ``max_workers``: statements running at once (more wait for a free worker; waiting does not count
    against a statement's time). ``prestart``: workers started on first use. ``recycle_after``: statements
    a worker runs before it is replaced. ``jail``: "on" (every worker in the OS jail, ``recode_graph.sandbox.jail``;
    the pool refuses to start when its filesystem or network layer cannot be applied) or "off" (an explicit
    opt-out); default ``$RECODE_SANDBOX_JAIL``, else "on". ``jail_report``: the layers the first worker
    reported (None before the pool has started).
    """

    def __init__(self, max_workers: int | None = None, prestart: int = 2, recycle_after: int = 500,
                 jail: str | None = None) -> None:
        self.jail = _jail.mode(jail)
        self.jail_report: _jail.Report | None = None
        # A statement holds its worker while the host serves its primitive calls (environment steps, tools),
        # so the pool is sized for concurrent episodes, not cores; an idle worker costs ~2 MB of its own.
        self.max_workers = max_workers or 32
        self.prestart = min(prestart, self.max_workers)
        self.recycle_after = recycle_after
        self.started = 0  # workers started so far (a killed one is replaced: this grows)
        self.killed = 0
        self._zygote: _Zygote | None = None
        self._idle: list[_Handle] = []
        self._count = 0
        self._cond = threading.Condition()
        self._holders: OrderedDict[str, tuple[_Handle, str]] = OrderedDict()
        self._closed = False
        self._pid = os.getpid()

    # -- process management -------------------------------------------------------------------------
    def _start(self) -> _Handle:
        with self._cond:
            if self._zygote is None or self._zygote.process.poll() is not None:
                if self._zygote is not None:
                    self._zygote.close()
                self._zygote = _Zygote(self.jail)
            zygote = self._zygote
        handle = _Handle(zygote)
        refusal = handle.report.refusal() if self.jail == "on" else ""
        with self._cond:
            first = self.jail_report is None
            if first or refusal:
                self.jail_report = handle.report
        if first:
            (log.warning if handle.report.missing else log.info)(handle.report.summary())
        if refusal:
            handle.kill()
            raise _jail.JailUnavailable(refusal)
        with self._cond:
            self.started += 1
        return handle

    def _fill(self) -> None:
        """Start workers until ``prestart`` are idle (used on first use and after a kill)."""
        while True:
            with self._cond:
                if self._closed or len(self._idle) >= self.prestart or self._count >= self.max_workers:
                    return
                self._count += 1
            try:
                handle = self._start()
            except Exception:
                with self._cond:
                    self._count -= 1
                    self._cond.notify()
                raise
            with self._cond:
                if self._closed:
                    self._count -= 1
                    handle.kill()
                    return
                self._idle.append(handle)
                self._cond.notify()

    def _acquire(self, session: str) -> tuple[_Handle, str | None]:
        if os.getpid() != self._pid:
            raise RuntimeError("a WorkerPool cannot be used in a forked child; create a new one there")
        if self.started == 0:
            self._fill()
        victim: _Handle | None = None
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("the worker pool is closed")
                held = self._holders.get(session)
                if held is not None and held[0] in self._idle:
                    self._idle.remove(held[0])
                    return held[0], held[1]
                free = [h for h in self._idle if h.holds is None]  # a worker keeps values of one run only
                mine = [h for h in free if h.sent is not None and h.sent[0] == session]  # has its variables
                if mine:
                    self._idle.remove(mine[-1])
                    return mine[-1], None
                if free:
                    self._idle.remove(free[-1])
                    return free[-1], None
                if self._count < self.max_workers:
                    self._count += 1
                    break
                if self._idle:  # every idle worker keeps another run's values: replace the oldest
                    victim = self._idle.pop(0)
                    self._drop_holder(victim)
                    self.killed += 1
                    break
                self._cond.wait()
        if victim is not None:
            victim.kill()
        try:
            return self._start(), None
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _release(self, handle: _Handle, keep: bool) -> None:
        with self._cond:
            if keep and not self._closed and handle.runs < self.recycle_after:
                self._idle.append(handle)
                self._cond.notify()
                return
            self._count -= 1
            self._drop_holder(handle)
            self.killed += 1
            self._cond.notify()
        handle.kill()
        if not self._closed:
            threading.Thread(target=self._refill, name="recode-sandbox-start", daemon=True).start()

    def _refill(self) -> None:
        try:
            self._fill()
        except Exception:  # noqa: BLE001 - the next statement starts its own worker (and reports why not)
            pass

    def close(self) -> None:
        """Kill every worker (a statement still running ends as failed)."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._holders.clear()
            self._cond.notify_all()
        for handle in idle:
            handle.kill()
        if self._zygote is not None:
            self._zygote.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def probe(self, source: str, limits: Limits) -> tuple[str, str]:
        """Plain CPython in a freshly started worker, jailed as for statements (``recode_graph.sandbox.jail_probe``);
        the worker is killed afterwards. Returns (what it printed, the error that ended it or "")."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the worker pool is closed")
        handle = self._start()
        try:
            handle.conn.send(("probe", {"source": source, "limits": limits}))
            if not handle.conn.poll(limits.max_seconds + GRACE):
                return "", f"TimeoutError: timed out after {limits.max_seconds:g} s"
            message = wire.loads(handle.conn.recv_bytes(limits.max_result_bytes))
            return str(message["stdout"]), str(message["error"])
        except (EOFError, OSError):
            kind, text = exits.describe(handle.ended(), limits.max_memory_mb)
            return "", f"WorkerDied: {text} ({kind})"
        finally:
            handle.kill()

    # -- running a statement ----------------------------------------------------------------------------
    def run(self, code: str, variables: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]],
            limits: Limits, session: str = "") -> ExecResult:
        """Run one statement in a worker; ``functions`` are the host's primitives, called back from it."""
        for attempt in (1, 2):
            handle, token = self._acquire(session)
            while 0 < handle.memory_mb < limits.max_memory_mb:  # its hard limit cannot be raised: a fresh one
                self._release(handle, False)
                handle, token = self._acquire(session)
            keep = False
            try:
                result, keep = self._execute(handle, token, code, dict(variables), functions, limits, session)
                return result
            except WorkerDied:  # it died while idle (before reading the statement): once more, fresh
                if attempt == 2:
                    return _failure("WorkerError", "the sandbox process could not be started")
            finally:
                self._release(handle, keep)
        raise AssertionError("unreachable")

    def _execute(self, handle: _Handle, token: str | None, code: str, variables: dict[str, Any],
                 functions: Mapping[str, Callable[..., Any]], limits: Limits, session: str
                 ) -> tuple[ExecResult, bool]:
        new_token = secrets.token_hex(16)
        request = {"code": code, "functions": sorted(functions), "limits": limits, "session": session,
                   "token": token, "new_token": new_token, **self._variables_for(handle, session, variables)}
        try:
            handle.conn.send(("run", request))
        except (OSError, EOFError):
            raise WorkerDied() from None
        handle.sent = None  # until the worker reports the statement done
        handle.runs += 1
        handle.memory_mb = limits.max_memory_mb
        call = _Call()
        deadline = time.monotonic() + limits.max_seconds + GRACE  # time inside primitive calls counts too
        calls = 0
        while True:
            left = deadline - time.monotonic()
            try:
                ready = left > 0 and handle.conn.poll(left)
            except (OSError, EOFError):
                ready = True  # recv below reports it
            if not ready:
                return self._ended(call, variables, _failure(
                    "TimeoutError", f"timed out after {limits.max_seconds:g} s: the statement was stopped. "
                    "Avoid huge numbers, endless iterators and very long computations.")), False
            try:
                handle.read_deadline(deadline - time.monotonic())  # a worker that stalls mid-message
                data = handle.conn.recv_bytes(limits.max_result_bytes + 65536)
            except EOFError:
                return self._ended(call, variables, self._died(handle, limits)), False
            except BlockingIOError:
                return self._ended(call, variables, _failure(
                    "TimeoutError", f"timed out after {limits.max_seconds:g} s: the sandbox stalled while "
                    "sending its result")), False
            except OSError:
                return self._ended(call, variables, _failure(
                    "MemoryError", f"result too large (more than {limits.max_result_bytes / 2**20:g} MB); keep "
                    "only what later steps need")), False
            try:
                message = wire.loads(data)
                kind = message["t"]
            except (wire.WireError, KeyError, TypeError):
                return self._ended(call, variables, _failure("WorkerError", "the sandbox sent an invalid message")
                                   ), False
            del data
            if kind == "need":  # the worker no longer holds what the delta was based on: everything, once
                try:
                    handle.conn.send(("run", {**request, **self._variables_for(handle, session, variables)}))
                except (OSError, EOFError):
                    return self._ended(call, variables, self._died(handle, limits)), False
                continue
            if kind == "done":
                try:
                    result, keep = self._done(message, variables, limits)
                    self._hold(session, handle, new_token if keep and message["objects"] is True else None)
                    handle.sent = (session, new_token, result.variables) if keep else None
                except (KeyError, TypeError, ValueError):
                    return self._ended(call, variables, _failure("WorkerError", "the sandbox sent an invalid "
                                                                 "result")), False
                if call.stopped:  # the host decides that the statement ended (final answer, environment done)
                    result.ok, result.error, result.error_type, result.stopped = True, "", "", call.stopped
                else:
                    result.stopped = ""
                return result, keep
            if kind != "call":
                return self._ended(call, variables, _failure("WorkerError", "the sandbox sent an invalid message")
                                   ), False
            calls += 1
            if calls > limits.max_calls:
                return self._ended(call, variables, _failure(
                    "RuntimeError", f"too many calls: a statement may make {limits.max_calls} tool or environment "
                    "calls (Limits.max_calls); loop over fewer items or split the work")), False
            reply = self._serve_call(message, functions, call)
            try:
                handle.conn.send(reply)
            except (OSError, EOFError):
                return self._ended(call, variables, self._died(handle, limits)), False

    @staticmethod
    def _variables_for(handle: _Handle, session: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The variables part of a request: when the worker holds this run's variables from its last statement,
        only the names whose value is not the one it was sent or sent back (by identity: no walk of unchanged
        values) and the names gone; else all of them. Only builtin types cross (the worker unpickles them)."""
        held = handle.sent
        if held is not None and held[0] == session:
            _, base, before = held
            changed = {k: v for k, v in variables.items() if k not in before or before[k] is not v}
            part = {"base": base, "variables": changed, "deleted": [k for k in before if k not in variables]}
        else:
            part = {"base": None, "variables": variables, "deleted": []}
        if not exact_data(part["variables"]):  # subclasses cross as their plain data, here and in the result
            part["variables"] = json.loads(json.dumps(part["variables"], default=str))
            variables.update(part["variables"])
        return part

    @staticmethod
    def _serve_call(message: dict[str, Any], functions: Mapping[str, Callable[..., Any]], call: _Call
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
        except Exception as exc:  # a primitive's error is raised in the statement, as in-process
            return ("error", type(exc).__name__, str(exc)[:4000])
        return ("ok", stored(value))

    def _done(self, message: dict[str, Any], variables: dict[str, Any], limits: Limits
              ) -> tuple[ExecResult, bool]:
        changed, deleted = message["changed"], message["deleted"]
        if not (isinstance(changed, dict) and isinstance(deleted, list)):
            raise TypeError("bad result")
        out = {k: v for k, v in variables.items() if k not in set(deleted)}
        for name, value in changed.items():
            if not name.isidentifier() or name.startswith("_"):
                raise ValueError("bad variable name")
            out[name] = value
        notes = [str(n)[:300] for n in message["notes"][:50]]
        result = ExecResult(ok=bool(message["ok"]), stdout=str(message["stdout"])[: limits.max_output + 100],
                            error=str(message["error"])[:2000], error_type=str(message["error_type"])[:100],
                            variables=out, notes=notes)
        return result, message["recycle"] is False

    def _drop_holder(self, handle: _Handle) -> None:
        if handle.holds is not None and self._holders.get(handle.holds, (None,))[0] is handle:
            del self._holders[handle.holds]
        handle.holds = None

    def _hold(self, session: str, handle: _Handle, token: str | None) -> None:
        """Remember which worker holds the session's non-plain values (or that none does). The worker keeps
        only the values of the run whose statement it ran last (it drops any other's first)."""
        with self._cond:
            self._drop_holder(handle)
            if token is None:
                self._holders.pop(session, None)
                return
            handle.holds = session
            self._holders[session] = (handle, token)
            self._holders.move_to_end(session)
            while len(self._holders) > MAX_HOLDERS:
                _, (evicted, _) = self._holders.popitem(last=False)
                evicted.holds = None

    @staticmethod
    def _died(handle: _Handle, limits: Limits) -> ExecResult:
        """The worker's channel closed mid-statement: the error says why it ended (signal, memory, exit)."""
        ended = handle.ended()
        handle.kill()
        return _failure(*exits.describe(ended, limits.max_memory_mb))

    @staticmethod
    def _ended(call: _Call, variables: dict[str, Any], failure: ExecResult) -> ExecResult:
        """The worker was lost: the statement failed, unless the host had already ended it (final answer)."""
        if call.stopped:
            return ExecResult(ok=True, stopped=call.stopped, variables=variables)
        failure.variables = variables
        return failure


EXECUTORS = ("workers", "inprocess")


def check_executor(spec: Any) -> None:
    """``executor=``: "workers" (the default pool), "inprocess" (debugging only) or a ``WorkerPool``."""
    if isinstance(spec, WorkerPool):
        return
    if not isinstance(spec, str) or spec not in EXECUTORS:
        raise ValueError(f"executor must be 'workers', 'inprocess' or a WorkerPool, got {spec!r}")


_default: WorkerPool | None = None
_default_lock = threading.Lock()


def default_pool() -> WorkerPool:
    """The process-wide pool (started on first use, closed at exit; a forked child gets its own)."""
    global _default
    with _default_lock:
        if _default is None or _default._pid != os.getpid():
            _default = WorkerPool()
            atexit.register(_default.close)
        return _default
