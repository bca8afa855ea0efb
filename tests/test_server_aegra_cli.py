"""``recode serve`` as a user runs it: N processes on one Postgres and one Redis, URLs printed, Ctrl-C stops
them all; a missing Redis or bad timings are one line, before any process starts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from aegra_tools import alive, wait_for
from conftest import QUIET, ROOT, TEST_PATH, free_port, own_database, require_serve_python
from fault_tools import RedisServer

from recode_graph.bench.stops import interruptible
from recode_graph.serving.processes import port_in_use


def free_ports_in_a_row(count: int) -> int:
    """A first port such that it and the next ``count - 1`` are free now (``recode serve`` takes them in a row)."""
    for _ in range(100):
        first = free_port()
        if all(not port_in_use("127.0.0.1", first + i) for i in range(1, count)):
            return first
    raise AssertionError(f"no {count} free ports in a row")


def recode(python: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, **QUIET, "PYTHONPATH": TEST_PATH}
    return subprocess.Popen([python, "-m", "recode_graph.cli", "serve", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=interruptible,
                            **kwargs)  # type: ignore[call-overload]


@pytest.mark.slow
@pytest.mark.parametrize("args,message", [
    (("--redis", "redis://127.0.0.1:{port}/0"), "no Redis at 127.0.0.1:{port}: Connection refused"),
    (("--lease", "10", "--heartbeat", "5"), "the lease (10s) must be longer than two heartbeats (5s each)"),
    (("--port", "{taken}", "--redis", "{redis}"), "port {taken} on 127.0.0.1 is in use (stop what holds it"),
])
def test_a_missing_redis_or_bad_timings_is_one_line(args: tuple[str, ...], message: str) -> None:
    python = require_serve_python()
    port = free_port()
    with socket.socket() as holder:  # a port some other program listens on
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        names = {"port": port, "taken": holder.getsockname()[1], "redis": "redis://127.0.0.1:6379/15"}
        proc = recode(python, "--database", "postgresql://postgres@127.0.0.1:5432/unused",
                      *(a.format(**names) for a in args))
        out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and not out
    (line,) = err.strip().splitlines()
    assert message.format(**names) in line, line


def logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}"
                     for log in sorted((tmp_path / "logs").glob("*.log")))


@pytest.mark.slow
def test_recode_serve_starts_n_processes_prints_their_urls_and_stops_them(tmp_path: Path) -> None:
    python = require_serve_python()
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        with own_database("recode_cli") as url:
            first = free_ports_in_a_row(2)
            proc = recode(python, "--processes", "2", "--port", str(first), "--database", url,
                          "--redis", redis.url(db=3), "--drain", "2", "--log-dir", str(tmp_path / "logs"),
                          start_new_session=True)
            pids: list[int] = []
            try:
                lines = [proc.stdout.readline().strip() for _ in range(3)]  # type: ignore[union-attr]
                assert lines[0].startswith(f"server 0: http://127.0.0.1:{first}  (pid "), lines
                assert lines[1].startswith(f"server 1: http://127.0.0.1:{first + 1}  (pid "), lines
                assert lines[2] == "Ctrl-C stops them all"
                pids = [int(line.rsplit("pid ", 1)[1].rstrip(")")) for line in lines[:2]]
                from langgraph_sdk import get_sync_client

                for port in (first, first + 1):
                    client = get_sync_client(url=f"http://127.0.0.1:{port}")
                    thread = client.threads.create()["thread_id"]
                    state = client.runs.wait(thread, "recode", input={"instruction": "Ada"},
                                             context={"model": "scripted:hello"})
                    assert state["answer"] == "Hello, Ada!"
                proc.send_signal(signal.SIGINT)
                try:  # drain 2 s + 20 s, then SIGKILL; a loaded machine is slow to start it
                    out, err = proc.communicate(timeout=300)
                except subprocess.TimeoutExpired:
                    raise AssertionError(f"recode serve still running 300 s after Ctrl-C; servers alive: "
                                         f"{[p for p in pids if alive(p)]}\n{logs(tmp_path)}") from None
                assert proc.returncode == 0, err
                assert out.strip() == "stopping the servers", out
                (warning,) = err.strip().splitlines()  # no auth in langgraph.json: one line says so at start
                assert warning.startswith("recode serve: warning: no `auth` in the config: every caller is one "
                                          "anonymous user"), warning
                wait_for(lambda: not any(alive(p) for p in pids), 60, "the servers to stop")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                for pid in pids:  # they run in the command's session: killing the command leaves them
                    if alive(pid):
                        os.kill(pid, signal.SIGKILL)
    finally:
        redis.stop()
