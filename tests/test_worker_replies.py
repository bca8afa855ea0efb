"""The host's end of one statement against a worker that misbehaves (issue 35 moved its waits to one poll object per
worker and its read timeout to about one system call per statement): a reply that stalls mid-message, garbage, a
huge length, too many messages. Each ends the statement in bounded time with an error; none hangs the host. The
worker here is the test itself, on the other end of the handle's socket."""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from recode_graph import Limits
from recode_graph.sandbox import statement
from recode_graph.sandbox.handles import _Handle

LIMITS = Limits(max_seconds=1, max_result_bytes=2**20)


def _handle() -> tuple[_Handle, Connection]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    handle = object.__new__(_Handle)  # a handle without a process: the test plays the worker
    handle._socket, handle.conn = ours, Connection(os.dup(ours.fileno()))
    handle.pid, handle.runs, handle.memory_mb = 0, 0, 0
    handle.sent, handle.limits, handle._dead, handle._read_for = None, (None, None), False, 0.0
    handle._waiting = select.poll()
    handle._waiting.register(handle.conn.fileno(), select.POLLIN)
    return handle, Connection(theirs.detach())


def _run(worker: Callable[[Connection], None]) -> tuple[Any, float]:
    handle, theirs = _handle()

    def play() -> None:
        theirs.recv()  # the request
        worker(theirs)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    started = time.monotonic()
    result, keep = statement.execute(handle, "x = 1", {"a": 1}, {"tool": lambda: 1}, LIMITS)
    took = time.monotonic() - started
    assert not keep
    handle.conn.close()
    handle._socket.close()
    return result, took


def test_a_reply_that_stalls_mid_message_ends_at_the_deadline() -> None:
    def stall(conn: Connection) -> None:
        os.write(conn.fileno(), struct.pack("!i", 5000) + b'{"t":"done"')
        time.sleep(4)

    result, took = _run(stall)
    assert result.error_type == "TimeoutError" and "stalled while sending" in result.error
    assert took < 1 + statement.GRACE + 1.5 and result.variables == {"a": 1}


def test_a_stall_after_tool_calls_moved_the_deadline_on_is_still_cut_off() -> None:
    def calls_then_stall(conn: Connection) -> None:
        for _ in range(30):  # the host answers each call; its read timeout is not reset per message
            conn.send_bytes(b'{"t":"call","name":"tool","args":[],"kwargs":{}}')
            assert conn.recv()[0] == "ok"
        os.write(conn.fileno(), struct.pack("!i", 5000) + b"{")
        time.sleep(4)

    result, took = _run(calls_then_stall)
    assert result.error_type == "TimeoutError" and "stalled" in result.error and took < 1 + statement.GRACE + 1.5


def test_garbage_a_huge_length_and_a_silent_worker_each_end_the_statement() -> None:
    cases: dict[str, Callable[[Connection], None]] = {
        "garbage": lambda conn: conn.send_bytes(b"\x80\x00not json"),
        "deep": lambda conn: conn.send_bytes(b"[" * 100_000 + b"]" * 100_000),
        "huge": lambda conn: os.write(conn.fileno(), struct.pack("!i", 2**30)),
        "silent": lambda conn: time.sleep(3),
        "unknown": lambda conn: conn.send_bytes(b'{"t":"surprise"}'),
        "bad result": lambda conn: conn.send_bytes(b'{"t":"done","changed":{"__x":1},"deleted":[],"ok":true}'),
    }
    errors = {}
    for name, worker in cases.items():
        result, took = _run(worker)
        assert not result.ok and took < 1 + statement.GRACE + 1.5, (name, took)
        assert result.variables == {"a": 1}, name
        errors[name] = result.error_type
    assert errors == {"garbage": "WorkerError", "deep": "WorkerError", "huge": "MemoryError", "silent": "TimeoutError",
                      "unknown": "WorkerError", "bad result": "WorkerError"}
