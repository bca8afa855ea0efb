from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def langgraph_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``langgraph dev`` serving this project's langgraph.json on a free port; yields its URL."""
    port = free_port()
    cli = Path(sys.executable).with_name("langgraph")
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, **QUIET, "PYTHONPATH": str(ROOT)}
    with open(log, "w") as fh:
        proc = subprocess.Popen([str(cli), "dev", "--no-browser", "--no-reload", "--port", str(port),
                                 "--host", "127.0.0.1"], cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/ok", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"langgraph dev did not start: {log.read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
