"""``recode serve`` as a user runs it: N processes on one Postgres and one Redis, URLs printed, Ctrl-C stops
them all; a missing Redis or bad timings are one line, before any process starts."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from aegra_tools import alive, wait_for
from conftest import QUIET, ROOT, TEST_PATH, free_port, own_database, require_serve_python
from fault_tools import RedisServer


def recode(python: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, **QUIET, "PYTHONPATH": TEST_PATH}
    return subprocess.Popen([python, "-m", "recode_graph.cli", "serve", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]


@pytest.mark.slow
@pytest.mark.parametrize("args,message", [
    (("--redis", "redis://127.0.0.1:{port}/0"), "no Redis at 127.0.0.1:{port}: Connection refused"),
    (("--lease", "10", "--heartbeat", "5"), "the lease (10s) must be longer than two heartbeats (5s each)"),
])
def test_a_missing_redis_or_bad_timings_is_one_line(args: tuple[str, ...], message: str) -> None:
    python = require_serve_python()
    port = free_port()
    proc = recode(python, "--database", "postgresql://postgres@127.0.0.1:5432/unused",
                  *(a.format(port=port) for a in args))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and not out
    (line,) = err.strip().splitlines()
    assert message.format(port=port) in line, line


@pytest.mark.slow
def test_recode_serve_starts_n_processes_prints_their_urls_and_stops_them(tmp_path: Path) -> None:
    python = require_serve_python()
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        with own_database("recode_cli") as url:
            first = free_port()
            proc = recode(python, "--processes", "2", "--port", str(first), "--database", url,
                          "--redis", redis.url(db=3), "--drain", "2", "--log-dir", str(tmp_path / "logs"),
                          start_new_session=True)
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
                proc.wait(timeout=300)  # drain 2 s + 20 s, then SIGKILL; a loaded machine is slow to start it
                wait_for(lambda: not any(alive(p) for p in pids), 60, "the servers to stop")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    finally:
        redis.stop()
