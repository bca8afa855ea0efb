"""Start N Aegra server processes on one machine (one Postgres and one Redis between them), wait until each
answers, stop them by their process ids: SIGTERM first (a process drains its runs, then hands the rest back to
the queue), SIGKILL only after the drain has had its time."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from recode_graph.serving.reachable import redis_problem
from recode_graph.serving.settings import ServeSettings

APP = "recode_graph.serving.app:app"


class ServeError(RuntimeError):
    """A server process did not come up; the message ends with its last log lines."""


@dataclass
class ServerProcess:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log and self.log.exists() else ""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Whether ``host:port`` cannot be bound now. Checked before a process starts: uvicorn binds only after the
    app's start-up, and until then another server on that port would answer the readiness poll."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def launch(settings: ServeSettings, port: int, *, host: str = "127.0.0.1", python: str = sys.executable,
           log: Path | None = None, extra_env: dict[str, str] | None = None, append: bool = False
           ) -> ServerProcess:
    """One server process (uvicorn serving ``APP``) on ``host:port``; returns at once (``append``: add to the
    log, as a restarted process does)."""
    env = settings.env()
    env.update(extra_env or {})
    out = open(log, "ab" if append else "wb") if log else None  # noqa: SIM115 - closed by stop()
    proc = subprocess.Popen([python, "-m", "uvicorn", APP, "--host", host, "--port", str(port), "--no-access-log"],
                            env=env, stdout=out, stderr=subprocess.STDOUT if out else None)
    return ServerProcess(f"http://{host}:{port}", proc, log, out)


def poll_ready(proc: subprocess.Popen[Any], url: str, timeout: float, interval: float = 0.3) -> str | None:
    """Poll ``url`` until it answers 200 while ``proc`` lives: None when ready, else what went wrong."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return None
        except OSError:
            time.sleep(interval)
    return f"did not answer within {timeout:.0f}s"


def wait_ready(server: ServerProcess, timeout: float = 120.0) -> None:
    problem = poll_ready(server.proc, f"{server.url}/health", timeout)
    if problem:
        raise ServeError(f"server {server.url} {problem}\n{server.tail()}")


def start(settings: ServeSettings, count: int, *, host: str = "127.0.0.1", ports: Sequence[int] = (),
          python: str = sys.executable, log_dir: Path | None = None,
          extra_env: dict[str, str] | None = None) -> list[ServerProcess]:
    """``count`` processes; the first alone (it creates or migrates the tables), then the others together (they
    skip the migrations). Raises ServeError at once when the Redis does not answer or a port is taken."""
    problem = redis_problem(settings.redis_url)
    if problem:
        raise ServeError(f"{problem} (start one, or pass another Redis URL)")
    ports = list(ports) or [free_port(host) for _ in range(count)]
    taken = [port for port in ports if port_in_use(host, port)]
    if taken:
        raise ServeError(f"port {', '.join(map(str, taken))} on {host} is in use (stop what holds it, or pass "
                         f"another --port)")
    servers: list[ServerProcess] = []

    def one(i: int) -> ServerProcess:
        log = log_dir / f"server-{i}.log" if log_dir else None
        env = {**(extra_env or {}), "RUN_MIGRATIONS_ON_STARTUP": "true" if i == 0 else "false"}
        server = launch(settings, ports[i], host=host, python=python, log=log, extra_env=env)
        servers.append(server)
        return server

    try:
        wait_ready(one(0))
        rest = [one(i) for i in range(1, count)]
        for server in rest:
            wait_ready(server)
    except BaseException:
        stop(servers, settings.stop_timeout)
        raise
    return servers


def stop(servers: Sequence[ServerProcess], timeout: float = 30.0) -> None:
    """SIGTERM each (it finishes its runs for up to its drain time, then hands the others back to the queue),
    SIGKILL what is still alive after ``timeout`` (longer than the drain: ``ServeSettings.stop_timeout``)."""
    for server in servers:
        if server.proc.poll() is None:
            server.proc.terminate()
    deadline = time.monotonic() + timeout
    for server in servers:
        try:
            server.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
        if server._log_file:
            server._log_file.close()


@contextmanager
def running(settings: ServeSettings, count: int, **kwargs: object) -> Iterator[list[ServerProcess]]:
    with ExitStack() as stack:
        servers = start(settings, count, **kwargs)  # type: ignore[arg-type]
        stack.callback(stop, servers, settings.stop_timeout)
        yield servers
