"""Ctrl-C and SIGTERM for the ``recode`` command: one line, the exact resume command, exit 130 / 143.

- While the command starts (imports, before ``main`` has a thread): a stop exits at once with one line
  (nothing is stored yet, so there is nothing to clean up and nothing to resume).
- While an episode runs: the first SIGINT / SIGTERM raises ``Stopped`` (a ``KeyboardInterrupt``) in the main
  thread; the episode's stack unwinds (the sandbox worker of a running statement is killed, the environment
  and the database are closed) and ``main`` prints one line. What LangGraph stored before the stop (the last
  checkpoint and the pending writes of the steps that finished) is what ``recode resume`` continues from.
- A second signal while the first unwinds exits at once (``os._exit``), printing the same line; the stored
  thread stays resumable, and the sandbox's worker processes end with their zygote (``PR_SET_PDEATHSIG``).

The module only imports the standard library: ``main`` installs it before the heavy imports.
"""

from __future__ import annotations

import atexit
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
LABELS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


def exit_code(signum: int) -> int:
    return 128 + signum


class Stopped(KeyboardInterrupt):
    """The command was stopped by a signal (raised in the main thread by the first SIGINT / SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(LABELS.get(signal.Signals(signum), signal.Signals(signum).name))
        self.signum = signum
        self.code = exit_code(signum)
        self.label = str(self)


@dataclass
class Target:
    """What a stop leaves behind: the thread and how to continue it."""

    thread: str = ""
    command: str = ""
    stored: bool | None = None  # None: not known (the store could not be asked)


_target = Target()
_stopping: list[int] = []


def resume_command(thread: str, db: str | None, postgres: str | None) -> str:
    """The exact ``recode resume`` line for ``thread`` (an absolute --db path; a password is not repeated)."""
    words = ["recode", "resume", thread]
    if postgres:
        from recode_graph.persistence.storage import describe

        words += ["--postgres", describe(None, postgres)]
    elif db:
        words += ["--db", os.path.abspath(os.path.expanduser(db))]
    return shlex.join(words)


def line(label: str, target: Target) -> str:
    if not target.thread:
        return f"stopped ({label}) before a thread was stored; nothing to resume"
    if target.stored is False:
        return f"stopped: thread {target.thread} ({label}) before anything was stored; nothing to resume"
    return f"stopped: thread {target.thread} ({label}); continue with: {target.command}"


def _say(text: str) -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    try:
        os.write(2, f"recode: {text}\n".encode())
    except OSError:
        pass


def _at_once(signum: int, frame: FrameType | None) -> None:
    """Exit now: during start-up, or on a second signal while the first one unwinds."""
    label = LABELS.get(signal.Signals(signum), "signal")
    _say(line(label + (" again" if _stopping else ""), _target))
    os._exit(exit_code(_stopping[0] if _stopping else signum))


def _raise(signum: int, frame: FrameType | None) -> None:
    if _stopping:
        _at_once(signum, frame)
    _stopping.append(signum)
    for sig in SIGNALS:  # from here on the next signal exits at once, wherever the main thread is
        signal.signal(sig, _at_once)
    raise Stopped(signum)


def _install(handler: Any) -> dict[int, Any]:
    """Install ``handler`` for SIGINT and SIGTERM (main thread only; an ignored SIGINT, as in a background
    job of a non-interactive shell, stays ignored). Returns the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for sig in SIGNALS:
        current = signal.getsignal(sig)
        if current is signal.SIG_IGN:
            continue
        previous[sig] = current
        signal.signal(sig, handler)
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


@contextmanager
def starting() -> Iterator[None]:
    """While the command imports its modules: a stop exits at once with one line."""
    previous = _install(_at_once)
    try:
        yield
    finally:
        _restore(previous)


@contextmanager
def graceful() -> Iterator[None]:
    """While a command runs: the first signal raises ``Stopped``, a second one exits at once."""
    _target.thread, _target.command, _target.stored = "", "", None
    _stopping.clear()
    previous = _install(_raise)
    try:
        yield
    finally:
        _restore(previous)


@contextmanager
def watching(thread: str, command: str, stored: Any) -> Iterator[None]:
    """A stop inside this block names ``thread``; ``stored()`` says whether it reached the store."""
    _target.thread, _target.command, _target.stored = thread, command, None
    try:
        yield
    except Stopped:
        try:
            _target.stored = bool(stored())
        except Exception:  # noqa: BLE001 - the store was cut off mid-call: say how to continue anyway
            _target.stored = None
        raise


_exit_code: list[int] = []


def program() -> None:
    """``main`` runs as the program: once the command is done and the other exit handlers have run (they
    were registered later, so they run first), the process ends with ``os._exit`` with the command's code.
    CPython's own finalization would reset the signal handlers to their defaults, so a late Ctrl-C would
    kill the process with a bare -SIGINT instead."""
    atexit.register(_final_exit)


def _final_exit() -> None:
    if not _exit_code:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(_exit_code[0])


EXIT_GRACE = 15.0  # seconds the process may take to end once the command is done


def closing(code: int, grace: float = EXIT_GRACE) -> None:
    """The command is done and the process is ending: a signal now exits at once with ``code``, and so does
    the process after ``grace`` seconds. CPython joins the worker threads of executors before the exit
    handlers run; a thread still blocked in the step a stop cut short (seen under load: a Postgres call of a
    stopped approval run) would otherwise keep the process alive after its last line. What it was doing is
    not needed: the thread is resumed from what was stored, as after a kill -9."""
    _exit_code[:] = [code]
    _install(lambda signum, frame: _final_exit())
    watchdog = threading.Timer(grace, _final_exit)
    watchdog.daemon = True
    watchdog.start()


def stopped_line(stop: Stopped) -> str:
    return line(stop.label, _target)
