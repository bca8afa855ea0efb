"""The sandbox worker process: runs statements for the host (``recode_graph.sandbox.workers``), one at a time.

Forked by a zygote (``recode_graph.sandbox.zygote``: a fresh interpreter started with the thread's string-hash
seed that has imported this module; the multi-threaded host itself is never forked). Each statement arrives with its
code, the session's variables in their checkpoint form and the names of the primitives; it runs under
``sandbox.run_code`` (RestrictedPython, operation and time budget) with an address-space limit, and every
primitive call goes back to the host over the pipe and waits for its answer. The reply to the host is JSON
(``recode_graph.sandbox.wire``): the variables the statement changed, captured output, the error.

A worker serves one run (agent instance, thread, episode, checkpoint namespace): the host never sends it
another run's statement. Values that are not plain data (iterators, ...) stay in this process for that run's
next statement; a statement that runs in a fresh worker simply does not see them (as after a resume in a new
process). The run's variables stay too: the host then sends only the ones it changed (``base``: the token of
what this worker holds; a worker that does not hold it answers ``need`` and gets all of them). A statement gets
fresh copies of only the variables its code names (``recode_graph.sandbox.reach``).
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import io
import os
import re
import resource
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from itertools import chain
from multiprocessing.connection import Connection
from typing import Any

from recode_graph.sandbox import exits, jail, namespaces, wire
from recode_graph.sandbox.budget import Budget, BudgetExceeded
from recode_graph.sandbox.plain import printable, restore, to_checkpointable
from recode_graph.sandbox.reach import reachable, reflective
from recode_graph.sandbox.regexes import Regex
from recode_graph.sandbox.restricted import (
    RESERVED,
    EpisodeStop,
    ExecResult,
    Limits,
    compile_statement,
    run_code,
    safe_builtins_dict,
)

LEFTOVER_BYTES = 64 * 2**20  # a worker whose address space grew by more than this after a statement is replaced
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class Abort(BaseException):
    """The host ended the statement (its primitive call raised an interrupt); nothing is sent back."""


_ERRORS: dict[str, type[Exception]] = {}


def error_type(name: str) -> type[Exception]:
    """The exception class a primitive's error is raised as in the statement: the builtin of that name, or a
    class of the same name (``ActionRejected``, ``ToolException``), so ``except ValueError`` and the repair
    traceback read as they do in-process."""
    found = getattr(builtins, name, None)
    if isinstance(found, type) and issubclass(found, Exception):
        return found
    if not _NAME.match(name):
        name = "PrimitiveError"
    if name not in _ERRORS:
        _ERRORS[name] = type(name, (Exception,), {})
    return _ERRORS[name]


def _memory_now(status: int, field: str = "VmSize") -> int:
    """This process's address-space size in bytes (VmSize; or another field, VmRSS), read from its
    ``/proc/self/status`` opened before the jail (which closes ``/proc``)."""
    try:
        text = os.pread(status, 8192, 0).decode("ascii", "replace")
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


class Worker:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.status = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
        self.baseline = _memory_now(self.status)
        self.memory_limit = 0
        self.objects: dict[str, Any] = {}  # the run's values that are not plain data
        self.plain: tuple[str, dict[str, Any]] | None = None  # (token, the run's variables after its last statement)
        self.refused = reflective(safe_builtins_dict())  # names that give a statement every variable (reach)
        self.limits, self.limits_fields = Limits(), None

    def variables(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The run's variables (checkpoint forms): all of them as sent, or (``base``) the ones this worker holds from
        the run's last statement with the sent changes applied (in place: no copy of the whole state); None when it
        does not hold them (the host then sends all)."""
        held, self.plain = self.plain, None
        if request.get("base") is None:
            return dict(request["variables"])
        if held is None or held[0] != request["base"]:
            return None
        variables = held[1]
        for name in request["deleted"]:
            variables.pop(name, None)
        variables.update(request["variables"])
        return variables

    def named(self, variables: dict[str, Any], names: set[str] | None, functions: list[str]) -> dict[str, Any]:
        """The variables a statement can reach (``reach``: the ones it names; None: all), with every variable whose
        name the statement's globals take (primitives, ``re``...), which it drops as it always did."""
        if names is None:
            return variables
        given = {name: variables[name] for name in names if name in variables}
        given.update({name: variables[name] for name in chain(RESERVED, functions) if name in variables})
        return given

    def limit_memory(self, megabytes: int) -> None:
        """Soft and hard limit alike: code that got past RestrictedPython cannot raise it again (the host sends
        a statement with a higher limit to a fresh worker)."""
        if megabytes == self.memory_limit or not self.baseline:
            return
        limit = self.baseline + megabytes * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        self.memory_limit = megabytes

    def send(self, message: dict[str, Any]) -> None:
        self.conn.send_bytes(wire.dumps(message))

    def proxy(self, name: str, budget: Budget, compile: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if name == "final_answer":  # text, or a dict/list as given (a response_format validates it)
                args = tuple(a if type(a) in (dict, list) else printable(str(a)) for a in args)
            ok, plain = to_checkpointable([list(args), kwargs])
            if not ok:
                raise TypeError(f"{name}() takes plain data (text, numbers, lists, dicts) as arguments")
            with budget.paused():
                self.send({"t": "call", "name": name, "args": plain[0], "kwargs": plain[1]})
                reply = self.conn.recv()
            kind = reply[0]
            if kind == "ok":
                return restore(reply[1], compile=compile)
            if kind == "stop":
                raise EpisodeStop(reply[1])
            if kind == "error":
                raise error_type(reply[1])(reply[2])
            if kind == "budget":
                raise BudgetExceeded(reply[1])
            raise Abort()

        call.__name__ = name
        return call

    def run(self, request: dict[str, Any]) -> None:
        given = self.variables(request)
        if given is None:
            self.send({"t": "need"})
            message = self.conn.recv()
            if message[0] != "run":
                raise Abort()
            request = message[1]
            given = self.variables(request) or {}
        if request["limits"] != self.limits_fields:  # the Limits' fields, in order (they pickle fast)
            self.limits, self.limits_fields = Limits(*request["limits"]), request["limits"]
        limits = self.limits
        started = _memory_now(self.status)  # with the run's variables in hand
        try:
            self.limit_memory(limits.max_memory_mb)
        except (ValueError, OSError) as exc:  # fail closed: no statement runs without its memory limit
            self.send({"t": "done", "ok": False, "stdout": "", "error": f"WorkerError: the memory limit could not "
                       f"be set ({exc})", "error_type": "WorkerError", "changed": {}, "deleted": [], "notes": [],
                       "stopped": "", "recycle": True})
            return
        objects, self.objects = self.objects, {}
        budget = Budget(limits)
        recycle = False
        everything, variables, kept = given, given, objects
        try:
            byte_code = compile_statement(request["code"])
            if isinstance(byte_code, ExecResult):
                result = replace(byte_code, variables=given)
            else:
                names = reachable(byte_code, self.refused)
                variables = self.named(everything, names, request["functions"])
                if names is not None:  # the non-plain values it does not name stay as they are
                    kept = {k: v for k, v in objects.items() if k not in names}
                    objects = {k: objects[k] for k in names if k in objects}
                compile = Regex(budget.remaining).compile
                functions = {name: self.proxy(name, budget, compile) for name in request["functions"]}
                result = run_code(request["code"], variables, functions, limits, budget, objects=objects,
                                  byte_code=byte_code)
        except Abort:
            raise
        except MemoryError:  # nothing it did is kept (as when the worker dies)
            result, recycle = ExecResult(ok=False, error_type="MemoryError", variables=variables), True
            kept = {}
        except BaseException as exc:  # noqa: BLE001 - nothing the statement does may kill the protocol
            result = ExecResult(ok=False, error=f"{type(exc).__name__}: {printable(str(exc))[:500]}",
                                error_type=type(exc).__name__, variables=variables)
            kept = {}
        if result.error_type == "MemoryError":
            recycle = True
            if result.error.rstrip().endswith("MemoryError:") or not result.error:
                result = replace(result, error=(result.error.rstrip().removesuffix("MemoryError:") +
                                                f"MemoryError: memory limit {limits.max_memory_mb} MB exceeded"))
        changed = {k: v for k, v in result.variables.items() if k not in variables or variables[k] != v}
        deleted = [k for k in variables if k not in result.variables]
        self.objects = {**kept, **result.objects} if kept is not objects else result.objects
        now, held = _memory_now(self.status), max(started - self.baseline, 0)
        if now > started + LEFTOVER_BYTES + 2 * held or now > self.baseline + limits.max_memory_mb * 2**19:
            recycle = True  # what this statement left (arenas, kept values) must not count against the next one
            # (the run's variables this worker holds, and the room their copies took, are not leftovers: the
            # next statement of the run needs them too; at most half the memory limit in all)
        if sum(os.times()[:2]) > jail.CPU_SECONDS / 2:
            recycle = True  # its CPU rlimit must not end a later statement
        reply = {"t": "done", "ok": result.ok, "stdout": result.stdout, "error": result.error,
                 "error_type": result.error_type, "changed": changed, "deleted": deleted, "notes": result.notes,
                 "stopped": result.stopped, "recycle": recycle}
        try:
            data = wire.dumps(reply)
        except (wire.WireError, MemoryError, RecursionError) as exc:
            data = b""
            problem = f"the variables could not be encoded ({type(exc).__name__})"
        else:
            problem = ""
            if len(data) > limits.max_result_bytes:
                problem = (f"result too large: the variables this statement changed take {len(data) // 2**20} MB "
                           f"as plain data (limit {limits.max_result_bytes / 2**20:g} MB)")
        if problem:
            self.objects = {}
            reply.update(changed={}, deleted=[], recycle=True)
            if result.ok:  # a failed statement keeps its own error (often the memory limit that ended it)
                reply.update(ok=False, error_type="MemoryError",
                             error=f"MemoryError: {problem}. Keep only what later steps need.")
            data = wire.dumps(reply)
        else:
            for name in deleted:
                del everything[name]
            everything.update(changed)
        self.plain = (request["new_token"], everything)  # what the host now knows this worker holds
        del changed
        self.conn.send_bytes(data)

    def serve(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                return
            if message[0] == "probe":
                self.probe(message[1])
                continue
            if message[0] != "run":
                return
            try:
                self.run(message[1])
            except Abort:
                continue  # the host has already discarded this worker; it kills it next

    def probe(self, request: dict[str, Any]) -> None:
        """``recode_graph.sandbox.jail_probe``: plain CPython (no RestrictedPython) under the statement's memory
        limit, to show what the OS jail alone holds. Only the host sends this; the host then kills the worker."""
        output = io.StringIO()
        error = ""
        try:
            self.limit_memory(request["limits"].max_memory_mb)
            with contextlib.redirect_stdout(output):
                exec(compile(request["source"], "<jail_probe>", "exec"), {"__name__": "__jail_probe__"})
        except BaseException as exc:  # noqa: BLE001 - the probe reports whatever ended it
            error = f"{type(exc).__name__}: {exc}"
        self.send({"t": "probe", "stdout": printable(output.getvalue())[:100_000], "error": printable(error)[:4000]})


def _die_with_parent() -> None:
    """SIGKILL this worker when its parent (the forkserver) ends, which it does when the host ends."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(conn: Connection, jailed: bool, tmp_root: str, zone: namespaces.Zone, parent: int) -> None:
    """Body of a worker process: jail itself, report the layers, serve statements until the host closes the pipe."""
    _die_with_parent()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.setrecursionlimit(1000)
    status = exits.FAILED  # the exit status tells the host why it ended (``recode_graph.sandbox.exits``)
    try:
        worker = Worker(conn)  # measures its baseline memory before the jail closes /proc
        if jailed:
            report = jail.apply([conn.fileno(), worker.status], tmp_root, zone, parent)
        else:
            report = jail.Report(missing={"jail": "off (explicit opt-out)"})
        worker.send({"t": "hello", "layers": report.layers, "missing": report.missing,
                     "rss_kb": _memory_now(worker.status, "VmRSS") // 1024})  # what a crash report subtracts
        worker.serve()
        status = 0  # the host closed the channel
    except MemoryError:
        status = exits.OUT_OF_MEMORY  # outside the statement's own code (its reply, the protocol)
    finally:
        os._exit(status)

