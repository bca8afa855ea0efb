"""``recode serve`` restarts a server process that dies (issue 34): a real `recode serve` on a real Postgres and
Redis; its child server process is killed with SIGKILL, twice; each death is logged with its backoff (1 s, then
2 s), the restarted process answers runs, and Ctrl-C still stops everything."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from aegra_tools import alive, wait_for
from conftest import QUIET, ROOT, TEST_PATH, free_port, own_database, require_serve_python
from fault_tools import RedisServer

from recode_graph.bench.stops import interruptible


class Lines:
    """The command's stdout lines, read in the background, taken with a timeout."""

    def __init__(self, stream: object) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line.rstrip("\n"))

    def next(self, timeout: float = 240) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout} s; so far: {self.seen}") from None
        self.seen.append(line)
        return line


def answer(url: str) -> str:
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=url)
    thread = client.threads.create()["thread_id"]
    state = client.runs.wait(thread, "recode", input={"instruction": "Ada"}, context={"model": "scripted:hello"})
    return str(state["answer"])  # type: ignore[index]


@pytest.mark.slow
def test_a_killed_server_process_is_restarted_with_a_backoff(tmp_path: Path) -> None:
    python = require_serve_python()
    redis = RedisServer(tmp_path)
    redis.start()
    pids: list[int] = []
    try:
        with own_database("recode_restart") as database:
            port = free_port()
            env = {**os.environ, **QUIET, "PYTHONPATH": TEST_PATH}
            proc = subprocess.Popen([python, "-m", "recode_graph.cli", "serve", "--port", str(port), "--database",
                                     database, "--redis", redis.url(db=4), "--drain", "2", "--log-dir",
                                     str(tmp_path / "logs")], cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, preexec_fn=interruptible, start_new_session=True)
            out = Lines(proc.stdout)
            url = f"http://127.0.0.1:{port}"
            try:
                first = out.next()
                assert first.startswith(f"server 0: {url}  (pid "), first
                pids.append(int(first.rsplit("pid ", 1)[1].rstrip(")")))
                assert out.next() == "Ctrl-C stops them all"
                for restart, delay in ((1, 1), (2, 2)):  # the backoff doubles while the process keeps dying
                    os.kill(pids[-1], signal.SIGKILL)
                    assert out.next() == (f"server 0: {url} (pid {pids[-1]}) exited with -9; restarting it in "
                                          f"{delay} s (its runs are taken over by the others meanwhile)")
                    died = time.monotonic()
                    line = out.next()
                    assert line.startswith(f"server 0: restarted on {url} (pid ") and \
                        line.endswith(f", restart {restart})"), line
                    assert time.monotonic() - died >= delay - 0.5
                    pids.append(int(line.split("(pid ", 1)[1].split(",")[0]))
                    assert out.next().startswith(f"server 0: {url} is back (pid {pids[-1]}, ")
                    assert answer(url) == "Hello, Ada!"
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=300)
                assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
                assert out.next(timeout=30) == "stopping the servers"
                wait_for(lambda: not alive(pids[-1]), 60, "the restarted server to stop")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                for pid in pids:
                    if alive(pid):
                        os.kill(pid, signal.SIGKILL)
    finally:
        redis.stop()
