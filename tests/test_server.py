"""The served graph under a real ``langgraph dev`` server, driven through langgraph-sdk."""

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
QUIET = {"LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true", "LANGSMITH_TRACING": "false"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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


@pytest.mark.slow
def test_episode_with_approval_over_the_server(server: str) -> None:
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=server)
    assistants = client.assistants.search(graph_id="recode")
    assert assistants, "graph 'recode' not served"
    thread = client.threads.create()
    context = {"model": "scripted:hello", "approve": "expansions"}
    state = client.runs.wait(thread["thread_id"], "recode", input={"instruction": "Ada"}, context=context)
    interrupts = state.get("__interrupt__") or []
    assert interrupts, state
    request = interrupts[0]["value"]["action_requests"][0]
    assert request["name"] == "expansion" and "make_greeting(instruction)" in request["args"]["code"]
    # a malformed answer: still interrupted, with the reason
    state = client.runs.wait(thread["thread_id"], "recode", command={"resume": {"nope": 1}}, context=context)
    assert "decisions" in state["__interrupt__"][0]["value"]["error"]
    approve = {"decisions": [{"type": "approve"}]}
    state = client.runs.wait(thread["thread_id"], "recode", command={"resume": approve}, context=context)
    assert state["__interrupt__"][0]["value"]["action_requests"][0]["args"]["call"].startswith("greeting =")
    edit = {"decisions": [{"type": "edit", "edited_action": {"name": "expansion",
                                                             "args": {"code": "greeting = 'Hi ' + instruction"}}}]}
    state = client.runs.wait(thread["thread_id"], "recode", command={"resume": edit}, context=context)
    assert state["status"] == "success" and state["answer"] == "Hi Ada"
    final = client.threads.get_state(thread["thread_id"])
    assert final["values"]["answer"] == "Hi Ada" and not final["next"]
    history = client.threads.get_history(thread["thread_id"], limit=100)
    assert len(history) >= 6
    assert any(h["values"].get("proposal") for h in history)


@pytest.mark.slow
def test_bad_context_model_is_a_clear_run_error(server: str) -> None:
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=server)
    thread = client.threads.create()
    run = client.runs.create(thread["thread_id"], "recode", input={"instruction": "x"},
                             context={"model": "scripted:no-such-fixture"})
    client.runs.join(thread["thread_id"], run["run_id"])
    run = client.runs.get(thread["thread_id"], run["run_id"])
    assert run["status"] == "error"
