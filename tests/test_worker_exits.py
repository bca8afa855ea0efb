"""Why a worker died is stated truthfully (issue 21): a signal, the memory limit or the time limit, learned from
the zygote that forked it. Real worker processes, real statements (``jail_probe`` for plain CPython)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from recode_graph import Limits, ScriptedChatModel, create_recode_agent, expansion
from recode_graph.sandbox import jail_probe
from recode_graph.sandbox.exits import EXIT_SECONDS, Exit, describe
from recode_graph.sandbox.workers import WorkerPool

NESTED_MAPS = "x = [0]\nfor i in range(150000):\n    x = map(abs, x)\ny = list(x)"  # overflows the C stack
HOARD = "x = []\nwhile True:\n    x.append([0] * 1000)"


@pytest.fixture(scope="module")
def pool() -> WorkerPool:
    with WorkerPool(max_workers=2, prestart=1) as started:
        yield started


def test_a_segfault_in_a_statement_is_reported_as_a_crash_with_its_signal(pool: WorkerPool) -> None:
    result = pool.run(NESTED_MAPS, {}, {}, Limits(max_seconds=10, max_memory_mb=256))
    assert not result.ok and result.error_type == "WorkerCrash", result.error
    assert "the worker crashed (signal SIGSEGV)" in result.error and "memory" not in result.error
    assert pool.run("y = 1", {}, {}, Limits()).ok  # replaced


def test_running_out_of_memory_is_reported_as_the_memory_limit(pool: WorkerPool) -> None:
    result = pool.run(HOARD, {}, {}, Limits(max_seconds=20, max_memory_mb=128))
    assert not result.ok and result.error_type == "MemoryError", result.error
    assert "memory limit 128 MB exceeded" in result.error and "crashed" not in result.error, result.error
    assert "most likely" not in result.error


def test_a_statement_past_its_time_is_reported_as_timed_out(pool: WorkerPool) -> None:
    result = pool.run("x = sum(iter(int, 1))", {}, {}, Limits(max_seconds=1))
    assert result.error_type == "TimeoutError" and "timed out after 1 s" in result.error


def test_the_repair_prompt_gets_the_cause() -> None:
    model = ScriptedChatModel(responses=[expansion("", NESTED_MAPS), expansion("", "final_answer('flat')")])
    out = create_recode_agent(model, limits=Limits(max_seconds=10, max_memory_mb=256)).invoke({"instruction": "x"})
    assert out["answer"] == "flat"
    assert "the worker crashed (signal SIGSEGV)" in model.calls[1]


@pytest.mark.parametrize(("source", "expected"), [
    ("import ctypes\nctypes.string_at(0)", "the worker crashed (signal SIGSEGV)"),
    ("import os\nos.abort()", "the worker crashed (signal SIGABRT)"),
    ("import os\nos._exit(3)", "exited (status 3)"),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "killed from outside (signal SIGKILL)"),
    ("import ctypes\nb = b'x' * (220 * 2**20)\nctypes.string_at(0)",
     "crashed (signal SIGSEGV) near its memory limit"),
])
def test_plain_cpython_deaths_are_told_apart(source: str, expected: str) -> None:
    result = jail_probe(source, limits=Limits(max_seconds=10, max_memory_mb=256))
    assert result.error.startswith("WorkerDied: ") and expected in result.error, result.error


def _zygote_pid(pool: WorkerPool) -> int:
    """The process that forks the workers: with the jail on, the child (pid 1 of the zygote's pid namespace) of
    the process the pool started."""
    started = pool._zygote.process.pid if pool._zygote else 0
    if pool.jail_report is None or "namespaces" not in pool.jail_report.layers:
        return started
    with open(f"/proc/{started}/task/{started}/children") as children:
        return int(children.read().split()[0])


def test_the_host_waits_for_an_exit_status_with_a_deadline(pool: WorkerPool) -> None:
    """A zygote that does not answer (stopped here) costs the host at most EXIT_SECONDS: the cause is unknown."""
    handle, _ = pool._acquire("")
    zygote = pool._zygote
    assert zygote is not None
    stopped = _zygote_pid(pool)
    os.kill(stopped, signal.SIGSTOP)
    try:
        signal.pidfd_send_signal(handle.pidfd, signal.SIGSEGV)
        started = time.monotonic()
        ended = handle.ended()
        took = time.monotonic() - started
    finally:
        os.kill(stopped, signal.SIGCONT)
    assert ended == Exit(None) and took < EXIT_SECONDS + 2, (ended, took)
    assert "could not be learned" in describe(ended, 256)[1]
    pool._release(handle, False)
    assert pool.run("y = 1", {}, {}, Limits()).ok  # the zygote answers again: later deaths are told apart
    handle, _ = pool._acquire("")
    signal.pidfd_send_signal(handle.pidfd, signal.SIGBUS)
    assert handle.ended().signal == "SIGBUS"
    pool._release(handle, False)
