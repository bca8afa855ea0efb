"""Limits that hold (issues 21, 32): time inside primitive calls has its own budget, calls are bounded, reads have
deadlines."""

from __future__ import annotations

import socket
import threading
import time

from recode_graph.sandbox import Limits, statement
from recode_graph.sandbox.workers import WorkerPool


def test_a_loop_over_a_tool_call_is_stopped_by_the_tool_budget() -> None:
    calls = []

    def bump(n: int) -> int:
        calls.append(n)
        time.sleep(0.02)
        return n + 1

    with WorkerPool(max_workers=1, prestart=1) as pool:
        assert pool.run("x = 1", {}, {}, Limits()).ok  # started
        started = time.monotonic()
        result = pool.run("n = 0\nwhile True:\n    n = bump(n)", {}, {"bump": bump},
                          Limits(max_seconds=30, max_tool_seconds=1))
        took = time.monotonic() - started
    assert not result.ok and "tool time budget exceeded" in result.error, result.error
    assert "split the loop into several statements" in result.error
    assert 1.0 <= took < 15.0 and len(calls) <= 51, (took, len(calls))  # 1 s of tool time: at most 50 calls


def test_a_statement_makes_a_bounded_number_of_primitive_calls() -> None:
    with WorkerPool(max_workers=1, prestart=1) as pool:
        result = pool.run("n = 0\nwhile True:\n    n = bump(n)", {}, {"bump": lambda n: n + 1},
                          Limits(max_seconds=30, max_calls=200))
        assert not result.ok and "too many calls" in result.error and "max_calls" in result.error
        fine = pool.run("n = 0\nfor _ in range(200):\n    n = bump(n)", {}, {"bump": lambda n: n + 1},
                        Limits(max_calls=200))
        assert fine.ok and fine.variables["n"] == 200
    assert Limits().max_calls == 1000


def test_a_worker_that_stalls_mid_message_does_not_block_the_host() -> None:
    """A frame header and then nothing: the host's read gives up at the statement's deadline."""
    with WorkerPool(max_workers=1, prestart=1) as pool:
        handle = pool._acquire("", None)
        ours, theirs = socket.socketpair()
        # stand in for a worker that got past every layer and speaks the protocol badly: swap its channel
        handle.conn.close()
        handle._socket.close()
        from multiprocessing.connection import Connection

        handle._socket = ours
        handle.conn = Connection(__import__("os").dup(ours.fileno()))
        stalled = threading.Event()

        def stall() -> None:
            Connection(__import__("os").dup(theirs.fileno())).recv()  # the "run" request
            theirs.sendall((1000).to_bytes(4, "big") + b"{")  # a header for 1000 bytes, then one byte
            stalled.set()

        threading.Thread(target=stall, daemon=True).start()
        started = time.monotonic()
        result, keep = statement.execute(handle, "x = 1", {}, {}, Limits(max_seconds=1))
        assert stalled.is_set() and not keep
        assert result.error_type == "TimeoutError" and "stalled" in result.error, result.error
        assert time.monotonic() - started < 8
        pool._release(handle, False)
