from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TEST_PATH = f"{ROOT}{os.pathsep}{ROOT / 'tests'}"  # a server's PYTHONPATH: the project, tests/slow_model.py
TEST_MODELS = "slow_hello=slow_model:slow_hello"  # the servers' RECODE_MODELS: run contexts name `slow_hello`
from recode_graph.serving.processes import free_port  # noqa: E402 - after the path is set

QUIET = {"LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true", "LANGSMITH_TRACING": "false"}


def require_full_data(name: str) -> None:
    """Skip unless the full data set ``name`` is installed (``recode data NAME``); fail instead when
    ``RECODE_REQUIRE_FULL_DATA=1`` (set by .ci/run after installing it), so CI cannot skip these quietly."""
    from recode_graph.tools.datasets import locate

    located = locate(name)
    if located.sample and name != "sciworld":
        message = f"needs the full {name} data: recode data {name} (--from DIR)"
        if os.environ.get("RECODE_REQUIRE_FULL_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)


PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def require_postgres(url: str = PG_URL) -> None:
    """Skip when no Postgres answers at ``url``; under CI (``CI`` set) fail instead: CI must run these."""
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            return
    except Exception as exc:  # noqa: BLE001
        problem = f"{type(exc).__name__}: {exc}"
    if os.environ.get("CI"):
        pytest.fail(f"Postgres at {url} is required under CI: {problem}")
    pytest.skip(f"no Postgres server at {url}: {problem}")


@contextmanager
def own_database(prefix: str) -> Iterator[str]:
    """A database of the caller's own on the real Postgres server (skipped without one), dropped afterwards;
    yields its URL."""
    require_postgres(PG_URL)
    import uuid

    import psycopg

    server = PG_URL.rsplit("/", 1)[0]
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextmanager
def serve(cwd: Path, log: Path, extra_args: tuple[str, ...] = (), **env_extra: str) -> Iterator[str]:
    """Start a real ``langgraph dev`` in ``cwd`` on a free port, wait for ``/ok``; yields its URL, stops it."""
    port = free_port()
    cli = Path(sys.executable).with_name("langgraph")
    env = {**os.environ, **QUIET, "PYTHONPATH": str(ROOT), "RECODE_MODELS": TEST_MODELS, **env_extra}
    with open(log, "w") as fh:
        proc = subprocess.Popen([str(cli), "dev", "--no-browser", "--no-reload", "--port", str(port),
                                 "--host", "127.0.0.1", *extra_args], cwd=cwd, env=env, stdout=fh,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        from recode_graph.serving.processes import poll_ready

        problem = poll_ready(proc, f"{url}/ok", 120, interval=0.5)
        if problem:
            pytest.fail(f"langgraph dev {problem}: {log.read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def langgraph_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``langgraph dev`` serving this project's langgraph.json on a free port; yields its URL."""
    with serve(ROOT, tmp_path_factory.mktemp("server") / "server.log", PYTHONPATH=TEST_PATH) as url:
        yield url


# ---------------------------------------------------------------------------------------------------
# Aegra: the same graphs on an open Agent Server (several processes, one Postgres; docs/serving.md)

SERVE_VENV = ROOT / ".venv312"


def require_serve_python() -> str:
    """The Python of the serving environment (``make install-serve``: ``.venv312``, or $RECODE_SERVE_PYTHON);
    skipped when absent, a failure under CI (``CI`` set): CI must run the Aegra tests."""
    python = os.environ.get("RECODE_SERVE_PYTHON") or str(SERVE_VENV / "bin" / "python")
    problem = ""
    if not Path(python).exists():
        problem = f"no serving environment at {python} (make install-serve)"
    else:
        done = subprocess.run([python, "-c", "import aegra_api, recode_graph.serving.app"], capture_output=True,
                              text=True, env={**os.environ, **QUIET, "PYTHONPATH": str(ROOT)}, timeout=120)
        if done.returncode:
            problem = f"{python} cannot load Aegra: {done.stderr.strip().splitlines()[-1:]}"
    if problem:
        required_under_ci("the Aegra server tests", problem)
    return python


def required_under_ci(what: str, problem: str) -> None:
    """Skip for ``problem`` (a missing optional part), but fail under CI (``CI`` set), where ``what`` must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} are required under CI: {problem}")
    pytest.skip(problem)


FAST_TAKEOVER = {"lease": 6, "heartbeat": 2, "reaper": 2, "stuck_pending": 10, "drain": 5.0}


@contextmanager
def aegra(config: Path, log_dir: Path, processes: int = 1, *, redis_url: str | None = None,
          pg_port: int | None = None, takeover: dict[str, float] | None = None, **env_extra: str) -> Iterator[list]:
    """``processes`` Aegra server processes serving ``config`` on free ports, with a Postgres database and a
    Redis of their own (a private ``redis-server``, unless ``redis_url`` is given; dropped and stopped
    afterwards) and short leases (a dead process's runs restart within about 10 s); yields them (``.url``,
    ``.pid``, ``.proc``, ``.database_url``, ``.redis_url``), stops them by process id. ``pg_port``: the servers
    reach the database through this port of 127.0.0.1 instead (a proxy in front of Postgres); ``takeover``:
    other lease timings (``FAST_TAKEOVER``'s keys)."""
    python = require_serve_python()
    from fault_tools import RedisServer

    from recode_graph.serving.processes import running
    from recode_graph.serving.settings import ServeSettings

    redis = None
    if redis_url is None:
        redis = RedisServer(log_dir)
        redis.start()
        redis_url = redis.url(db=1)
    try:
        with own_database("recode_aegra") as url:
            served = url.replace("127.0.0.1:5432", f"127.0.0.1:{pg_port}") if pg_port else url
            settings = ServeSettings(served, config, redis_url=redis_url, **{**FAST_TAKEOVER, **(takeover or {})})
            with running(settings, processes, python=python, log_dir=log_dir,
                         extra_env={"PYTHONPATH": TEST_PATH, "RECODE_MODELS": TEST_MODELS, **env_extra}) as servers:
                for server in servers:
                    server.database_url, server.redis_url = url, redis_url
                yield servers
    finally:
        if redis is not None:
            redis.stop()


@pytest.fixture(scope="session")
def aegra_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Aegra process serving this project's langgraph.json; yields its URL."""
    with aegra(ROOT / "langgraph.json", tmp_path_factory.mktemp("aegra")) as servers:
        yield servers[0].url


SERVERS = ["langgraph_server", "aegra_server"]  # parametrize a fixture over both with request.getfixturevalue


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Skipped tests grouped by what they need, with the command that enables each group (tests/skips.py)."""
    from skips import write_summary

    write_summary(terminalreporter)
