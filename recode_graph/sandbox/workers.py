"""Statements in separate, limited worker processes: the pool (the host side; the worker is
``recode_graph.sandbox.worker``, one statement's protocol ``recode_graph.sandbox.statement``).

A ``WorkerPool`` forks workers from zygotes (clean interpreters that have imported the sandbox, one per
string-hash seed: a thread's workers all get the seed derived from the thread, ``handles.hash_seed``, so set
orders repeat in any process). **A worker serves one run** (the caller's ``session``: agent instance + thread
+ episode + checkpoint namespace): it is forked clean for the run's first statement, kept for its later ones
(with the values that are not plain data) and killed when the run ends (``end_run``), when it is evicted to make
room, or when it breaks a limit; it is never handed to another run. A statement without a session gets a
worker of its own, killed afterwards. While the host waits it holds no lock and not the GIL, so other episodes
and the event loop keep running.

The default pool is process-wide and started lazily (``default_pool``); it is closed at exit, and a forked
child starts its own. An agent can be given its own ``WorkerPool`` instead.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from recode_graph.sandbox import exits, statement, wire
from recode_graph.sandbox import jail as _jail
from recode_graph.sandbox.handles import HASH_SEEDS, WorkerDied, _Handle, _Zygote
from recode_graph.sandbox.restricted import ExecResult, Limits
from recode_graph.sandbox.statement import GRACE, exact_data

__all__ = ["EXECUTORS", "GRACE", "WorkerPool", "check_executor", "default_pool", "exact_data"]
log = logging.getLogger("recode_graph.sandbox")


class WorkerPool:
    """Sandbox worker processes, one run each.

    ``max_workers``: live workers at most (running a statement, or idle and kept for their run; more statements wait
    for one; waiting does not count against a statement's time). ``prestart``: clean workers made ready for a seed
    when the pool starts and when an episode starts (``prepare``, in the background). ``recycle_after``: statements
    a worker runs before it is replaced. ``max_zygotes``: zygotes (seeds) kept without a run; past that the least
    recently used one that no run uses is closed. ``jail``: "on" (every worker in the OS jail,
    ``recode_graph.sandbox.jail``; the pool refuses to start when its filesystem or network layer cannot be applied)
    or "off" (an explicit opt-out); default ``$RECODE_SANDBOX_JAIL``, else "on". ``jail_report``: the layers the
    first worker reported (None before the pool has started).
    """

    def __init__(self, max_workers: int | None = None, prestart: int = 1, recycle_after: int = 500,
                 jail: str | None = None, max_zygotes: int = HASH_SEEDS + 1) -> None:
        self.jail = _jail.mode(jail)
        self.jail_report: _jail.Report | None = None
        self.max_workers = max_workers or 32
        self.prestart = min(prestart, self.max_workers)
        self.recycle_after = recycle_after
        self.max_zygotes = max(1, max_zygotes)
        self.started = 0  # workers started so far (one per run, and a killed one is replaced: this grows)
        self.killed = 0
        self._zygotes: OrderedDict[int | None, _Zygote] = OrderedDict()
        self._zygote_lock = threading.Lock()  # zygotes start one at a time, outside the pool's lock
        self._fresh: list[_Handle] = []  # started, never used
        self._runs: OrderedDict[str, _Handle] = OrderedDict()  # idle workers, each kept for its one run
        self._busy: set[_Handle] = set()
        self._count = 0  # live workers, including those being started
        self._cond = threading.Condition()
        self._closed = False
        self._pid = os.getpid()

    # -- zygotes and workers --------------------------------------------------------------------------
    @contextmanager
    def _using(self, seed: int | None) -> Iterator[_Zygote]:
        """The zygote of ``seed`` (started when there is none, or it died), kept open while the block forks from it.
        Past ``max_zygotes``, the least recently used zygotes that no run or fork uses are closed (so there are at
        most ``max_zygotes`` + ``max_workers``)."""
        zygote = self._zygote(seed)
        try:
            yield zygote
        finally:
            with self._cond:
                zygote.users -= 1

    def _zygote(self, seed: int | None) -> _Zygote:
        with self._cond:
            zygote = self._zygotes.get(seed)
            if zygote is not None and zygote.process.poll() is None:
                self._zygotes.move_to_end(seed)
                zygote.users += 1
                return zygote
        with self._zygote_lock:
            with self._cond:
                zygote = self._zygotes.get(seed)
                if zygote is not None and zygote.process.poll() is None:
                    zygote.users += 1
                    return zygote
                if self._closed:
                    raise RuntimeError("the worker pool is closed")
            zygote = _Zygote(self.jail, seed)
            with self._cond:
                zygote.users = 1
                stale = self._zygotes.pop(seed, None)
                self._zygotes[seed] = zygote
                closing = [stale] if stale is not None else []
                doomed: list[_Handle] = []
                for old_seed, old in list(self._zygotes.items()):
                    if len(self._zygotes) <= self.max_zygotes:
                        break
                    if old.users or any(h.zygote is old for h in (*self._busy, *self._runs.values())):
                        continue  # a fork or a run still uses it
                    doomed += self._forget(lambda h, z=old: h.zygote is z)
                    closing.append(self._zygotes.pop(old_seed))
        for handle in doomed:
            handle.kill()
        for old in closing:
            old.close()
        return zygote

    def _forget(self, which: Callable[[_Handle], bool]) -> list[_Handle]:
        """Remove the idle workers ``which`` selects from the pool (to be killed by the caller, outside the lock)."""
        gone = [h for h in self._fresh if which(h)] + [h for h in self._runs.values() if which(h)]
        self._fresh = [h for h in self._fresh if not which(h)]
        for run in [r for r, h in self._runs.items() if which(h)]:
            del self._runs[run]
        self._count -= len(gone)
        self.killed += len(gone)
        return gone

    def _start_counted(self, zygote: _Zygote) -> _Handle:
        """``_start`` for a worker already counted in ``_count``: the count is given back when the start fails."""
        try:
            return self._start(zygote)
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _start(self, zygote: _Zygote | None = None) -> _Handle:
        """A new worker of ``zygote`` (which the caller holds with ``_using``; None: of the default zygote)."""
        if zygote is None:
            with self._using(None) as default:
                return self._start(default)
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

    def _fill(self, seed: int | None) -> None:
        """Start clean workers of ``seed`` until ``prestart`` are ready."""
        with self._using(seed) as zygote:
            while True:
                with self._cond:
                    ready = sum(1 for h in self._fresh if h.zygote is zygote)
                    if self._closed or ready >= self.prestart or self._count >= self.max_workers:
                        return
                    self._count += 1
                handle = self._start_counted(zygote)
                with self._cond:
                    if self._closed:
                        self._count -= 1
                        handle.kill()
                        return
                    self._fresh.append(handle)
                    self._cond.notify()

    def _acquire(self, run: str, seed: int | None) -> _Handle:
        """The worker of ``run`` (kept from its last statement), else a clean one of ``seed``, bound to ``run``."""
        if os.getpid() != self._pid:
            raise RuntimeError("a WorkerPool cannot be used in a forked child; create a new one there")
        if run:  # the run's own worker, kept from its last statement (no zygote needed)
            with self._cond:
                if self._closed:
                    raise RuntimeError("the worker pool is closed")
                held = self._runs.pop(run, None)
                if held is not None:
                    self._busy.add(held)
                    return held
        if self.started == 0 and self.prestart:
            self._fill(seed)
        with self._using(seed) as zygote:
            victim: _Handle | None = None
            with self._cond:
                while True:
                    if self._closed:
                        raise RuntimeError("the worker pool is closed")
                    held = self._runs.pop(run, None) if run else None
                    if held is not None:
                        self._busy.add(held)
                        return held
                    clean = next((h for h in reversed(self._fresh) if h.zygote is zygote), None)
                    if clean is not None:
                        self._fresh.remove(clean)
                        clean.run = run
                        self._busy.add(clean)
                        return clean
                    if self._count < self.max_workers:
                        self._count += 1
                        break
                    idle = self._fresh[:1] or list(self._runs.values())[:1]  # the oldest idle worker makes room
                    if idle:
                        victim = idle[0]
                        self._forget(lambda h, v=victim: h is v)
                        self._count += 1
                        break
                    self._cond.wait()
            if victim is not None:
                victim.kill()
            handle = self._start_counted(zygote)
            handle.run = run
            with self._cond:
                self._busy.add(handle)
            return handle

    def _release(self, handle: _Handle, keep: bool) -> None:
        """After a statement: keep the worker for its run's next one, or kill it."""
        with self._cond:
            self._busy.discard(handle)
            if keep and handle.run and not self._closed and handle.runs < self.recycle_after:
                other = self._runs.pop(handle.run, None)  # (never two workers for one run; the newer stays)
                self._runs[handle.run] = handle
                if other is not None:
                    self._count -= 1
                    self.killed += 1
                self._cond.notify()
            else:
                other = handle
                self._count -= 1
                self.killed += 1
                self._cond.notify()
        if other is not None:
            other.kill()

    def prepare(self, seed: int | None) -> None:
        """Start the zygote of ``seed`` and its clean workers in the background (an episode is starting)."""
        with self._cond:
            if self._closed or (seed in self._zygotes and any(h.zygote.seed == seed for h in self._fresh)):
                return
        threading.Thread(target=self._prepare, args=(seed,), name="recode-sandbox-start", daemon=True).start()

    def _prepare(self, seed: int | None) -> None:
        try:
            self._fill(seed)  # (starts the zygote first)
        except Exception:  # noqa: BLE001 - the first statement starts its own (and reports why not)
            pass

    def end_run(self, run: str) -> None:
        """The run has ended: its worker (and the values kept there) is killed; it never serves another run."""
        with self._cond:
            gone = self._forget(lambda h: h.run == run) if run in self._runs else []
        for handle in gone:
            handle.kill()

    def close(self) -> None:
        """Kill every worker (a statement still running ends as failed) and the zygotes."""
        with self._cond:
            self._closed = True
            idle = self._forget(lambda h: True)
            zygotes, self._zygotes = list(self._zygotes.values()), OrderedDict()
            self._cond.notify_all()
        for handle in idle:
            handle.kill()
        for zygote in zygotes:
            zygote.close()

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
        with self._using(None) as zygote:
            handle = self._start(zygote)
            try:
                return self.send_probe(handle, source, limits)
            finally:
                handle.kill()

    @staticmethod
    def send_probe(handle: _Handle, source: str, limits: Limits) -> tuple[str, str]:
        """Run plain CPython ``source`` in the worker of ``handle`` (host-side test hook; generated code cannot
        send this message)."""
        try:
            handle.conn.send(("probe", {"source": source, "limits": limits}))
            if not handle.conn.poll(limits.max_seconds + GRACE):
                return "", f"TimeoutError: timed out after {limits.max_seconds:g} s"
            message = wire.loads(handle.conn.recv_bytes(limits.max_result_bytes))
            return str(message["stdout"]), str(message["error"])
        except (EOFError, OSError):
            kind, text = exits.describe(handle.ended(), limits.max_memory_mb)
            return "", f"WorkerDied: {text} ({kind})"

    # -- running a statement ----------------------------------------------------------------------------
    def run(self, code: str, variables: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]],
            limits: Limits, session: str = "", seed: int | None = None) -> ExecResult:
        """Run one statement of run ``session`` in its worker (string-hash seed ``seed``; None: a random one);
        ``functions`` are the host's primitives, called back from it."""
        for attempt in (1, 2):
            handle = self._acquire(session, seed)
            while 0 < handle.memory_mb < limits.max_memory_mb:  # its hard limit cannot be raised: a fresh one
                self._release(handle, False)
                handle = self._acquire(session, seed)
            keep = False
            try:
                result, keep = statement.execute(handle, code, dict(variables), functions, limits)
                return result
            except WorkerDied:  # it died while idle (before reading the statement): once more, fresh
                if attempt == 2:
                    return statement.failure("WorkerError", "the sandbox process could not be started")
            finally:
                self._release(handle, keep)
        raise AssertionError("unreachable")


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
