"""The sandbox worker process: runs statements for the host (``recode_graph.sandbox.workers``), one at a time.

Started by the host's pool through multiprocessing's forkserver (a fresh interpreter that has imported this
module, forked per worker; the multi-threaded host itself is never forked). Each statement arrives with its
code, the session's variables in their checkpoint form and the names of the primitives; it runs under
``sandbox.run_code`` (RestrictedPython, operation and time budget) with an address-space limit, and every
primitive call goes back to the host over the pipe and waits for its answer. The reply to the host is JSON
(``recode_graph.sandbox.wire``): the variables the statement changed, captured output, the error.

Values that are not plain data (iterators, ...) stay in this process for their session, keyed by a token the
host hands out; the host sends a statement back to the same worker when it can, and a statement that runs
elsewhere simply does not see them (as after a resume in a new process).
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import importlib
import io
import os
import pkgutil
import re
import resource
import signal
import socket
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from recode_graph.sandbox import exits, jail, wire
from recode_graph.sandbox.plain import printable, restore, to_checkpointable
from recode_graph.sandbox.regexes import Regex
from recode_graph.sandbox.restricted import Budget, EpisodeStop, ExecResult, Limits, run_code

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
        self.objects: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self.plain: dict[str, tuple[str, dict[str, Any]]] = {}  # run -> (token, its variables after its statement)

    def variables(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The statement's variables: all of them as sent, or (``base``) the ones this worker holds from the run's
        last statement with the sent changes applied; None when it does not hold them (the host then sends all)."""
        held = self.plain.pop(request["session"], None)
        self.plain.clear()  # one run's variables only
        if request.get("base") is None:
            return dict(request["variables"])
        if held is None or held[0] != request["base"]:
            return None
        gone = set(request["deleted"])
        variables = {k: v for k, v in held[1].items() if k not in gone}
        variables.update(request["variables"])
        return variables

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
        limits: Limits = request["limits"]
        started = _memory_now(self.status)  # with the run's variables in hand
        try:
            self.limit_memory(limits.max_memory_mb)
        except (ValueError, OSError) as exc:  # fail closed: no statement runs without its memory limit
            self.send({"t": "done", "ok": False, "stdout": "", "error": f"WorkerError: the memory limit could not "
                       f"be set ({exc})", "error_type": "WorkerError", "changed": {}, "deleted": [], "notes": [],
                       "stopped": "", "objects": False, "recycle": True})
            return
        session = request["session"]
        held = self.objects.pop(session, None)
        self.objects.clear()  # values of one run only: another run's are dropped before this one's code runs
        objects = held[1] if held is not None and held[0] == request["token"] else {}
        budget = Budget(limits)
        variables = given
        recycle = False
        try:
            compile = Regex(budget.remaining).compile
            functions = {name: self.proxy(name, budget, compile) for name in request["functions"]}
            result = run_code(request["code"], variables, functions, limits, budget, objects=objects)
        except Abort:
            raise
        except MemoryError:
            result, recycle = ExecResult(ok=False, error_type="MemoryError"), True
        except BaseException as exc:  # noqa: BLE001 - nothing the statement does may kill the protocol
            result = ExecResult(ok=False, error=f"{type(exc).__name__}: {printable(str(exc))[:500]}",
                                error_type=type(exc).__name__)
        if result.error_type == "MemoryError":
            recycle = True
            if result.error.rstrip().endswith("MemoryError:") or not result.error:
                result = replace(result, error=(result.error.rstrip().removesuffix("MemoryError:") +
                                                f"MemoryError: memory limit {limits.max_memory_mb} MB exceeded"))
        changed = {k: v for k, v in result.variables.items() if k not in variables or variables[k] != v}
        deleted = [k for k in variables if k not in result.variables]
        if result.objects:
            self.objects[session] = (request["new_token"], result.objects)
        now, held = _memory_now(self.status), max(started - self.baseline, 0)
        if now > started + LEFTOVER_BYTES + 2 * held or now > self.baseline + limits.max_memory_mb * 2**19:
            recycle = True  # what this statement left (arenas, kept values) must not count against the next one
            # (the run's variables this worker holds, and the room their copies took, are not leftovers: the
            # next statement of the run needs them too; at most half the memory limit in all)
        reply = {"t": "done", "ok": result.ok, "stdout": result.stdout, "error": result.error,
                 "error_type": result.error_type, "changed": changed, "deleted": deleted, "notes": result.notes,
                 "stopped": result.stopped, "objects": bool(result.objects), "recycle": recycle}
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
            self.objects.pop(session, None)
            reply.update(changed={}, deleted=[], objects=False, recycle=True)
            if result.ok:  # a failed statement keeps its own error (often the memory limit that ended it)
                reply.update(ok=False, error_type="MemoryError",
                             error=f"MemoryError: {problem}. Keep only what later steps need.")
            data = wire.dumps(reply)
        else:
            variables = {k: v for k, v in variables.items() if k not in deleted}
            variables.update(changed)
        self.plain[session] = (request["new_token"], variables)  # what the host now knows this worker holds
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


def main(conn: Connection, jailed: bool, tmp_root: str, netns: str, netns_error: str, parent: int) -> None:
    """Body of a worker process: jail itself, report the layers, serve statements until the host closes the pipe."""
    _die_with_parent()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.setrecursionlimit(1000)
    status = exits.FAILED  # the exit status tells the host why it ended (``recode_graph.sandbox.exits``)
    try:
        worker = Worker(conn)  # measures its baseline memory before the jail closes /proc
        if jailed:
            report = jail.apply([conn.fileno(), worker.status], tmp_root, netns, parent)
            if netns_error:
                report.missing["netns"] = netns_error
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


def _preimport() -> None:
    """Import what a statement may load lazily (codecs) while the standard library is still readable: a jailed
    worker's uid may not pass the directories above it."""
    import encodings

    for module in pkgutil.iter_modules(encodings.__path__):
        try:
            importlib.import_module(f"encodings.{module.name}")
        except ImportError:
            pass  # Windows-only codecs


def zygote(fd: int, mode: str = "off", tmp_root: str = "") -> None:
    """The process that forks workers (the host's pool starts one with ``python -I -c``, an empty environment;
    it never forks itself, being multi-threaded). It has imported the sandbox once, so a worker starts in a few
    milliseconds. With the jail on it first leaves the host's network namespace; each worker jails itself
    (``recode_graph.sandbox.jail``) in ``tmp_root``. On each request (a socket end passed over ``fd``) it
    forks a worker serving that socket and answers with the worker's pid; asked about a pid, it answers how that
    worker ended (``recode_graph.sandbox.exits``: it reaps its children itself). Ends when the host closes ``fd`` (or
    ends); its workers then die too (``PR_SET_PDEATHSIG``; not set on the zygote itself: it would fire when the
    host thread that started it ends)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the host
    reaper = exits.Reaper()  # reaps ended workers on every request and remembers how each ended
    jailed = mode == "on"
    netns = netns_error = ""
    if jailed:
        _preimport()
        try:
            netns = jail.enter_netns()
        except OSError as exc:
            netns_error = str(exc)
    control = socket.socket(fileno=fd)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, exits.REQUEST.size, 1)
            while data and len(data) < exits.REQUEST.size:
                more = control.recv(exits.REQUEST.size - len(data))
                if not more:
                    break
                data += more
        except OSError:
            os._exit(0)
        if len(data) < exits.REQUEST.size:
            os._exit(0)  # the host has gone
        kind, number, child = exits.REQUEST.unpack(data)
        reaper.reap()
        if kind == b"s":  # how did worker ``child`` end?
            for extra in fds:
                os.close(extra)
            control.sendall(reaper.answer(number, child))
            continue
        if kind != b"w" or len(fds) != 1:
            os._exit(0)  # not the host's protocol
        pid = os.fork()
        if pid == 0:
            control.close()
            main(Connection(fds[0]), jailed, tmp_root, netns, netns_error, os.getppid())
        os.close(fds[0])
        control.sendall(exits.ANSWER.pack(number, pid, -1, 0))


if __name__ == "__main__":  # python -m recode_graph.sandbox.worker FD [MODE TMP_ROOT]
    zygote(int(sys.argv[1]), *sys.argv[2:4])
