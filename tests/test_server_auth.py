"""``recode serve`` as an operator runs it (a real subprocess: Aegra on Postgres and a private Redis), with the
auth handler of docs/serving.md as written: no token is a 401, each user lists, reads, runs, resumes and deletes
only their own threads. The same server refuses what a client must not do: a module path as the model (a run
error, nothing imported), context fields of the wrong type (one line naming the field), a lone surrogate in the
input (422 naming the field, the server unharmed). Without auth, ``recode serve`` warns at start, louder off
loopback; a configured handler that does not load stops it with one line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aegra_tools import alive
from conftest import QUIET, ROOT, own_database, require_serve_python
from fault_tools import RedisServer

from recode_graph.bench.stops import interruptible
from recode_graph.serving.processes import free_port

TOKENS = {"token-of-ann": "ann", "token-of-bob": "bob"}
MARKER = "recode_auth_marker_mod"


def auth_block() -> str:
    """The handler of docs/serving.md, as the page shows it."""
    page = (ROOT / "docs" / "serving.md").read_text()
    (code,) = [c for c in re.findall(r"```python\n(.*?)\n```", page, re.S) if c.startswith("# auth.py")]
    return code


@dataclass
class Serve:
    proc: subprocess.Popen[str]
    url: str
    lines: list[str]
    folder: Path

    def pids(self) -> list[int]:
        return [int(line.rsplit("pid ", 1)[1].rstrip(")")) for line in self.lines if "(pid " in line]

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        for pid in self.pids():  # they run in the command's session: a killed command leaves them
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        return out, err


def start_serve(python: str, folder: Path, config: dict[str, Any], database: str, redis: str,
                *args: str) -> Serve:
    """``recode serve`` on ``config`` (written into ``folder``) in a session of its own; returns once it has
    printed its URLs (or ended)."""
    (folder / "langgraph.json").write_text(json.dumps(config))
    port = free_port()
    env = {**os.environ, **QUIET, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests"), str(folder)]),
           "RECODE_TOKENS": json.dumps(TOKENS), "RECODE_MODEL": "", "RECODE_MODELS": ""}
    env.pop("OPENAI_API_KEY", None)
    proc = subprocess.Popen([python, "-m", "recode_graph.cli", "serve", "--config", str(folder / "langgraph.json"),
                             "--port", str(port), "--database", database, "--redis", redis, "--drain", "2",
                             "--log-dir", str(folder / "logs"), *args],
                            cwd=folder, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=interruptible, start_new_session=True)
    lines: list[str] = []
    while proc.stdout is not None:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if line.startswith("Ctrl-C stops them all"):
            break
    return Serve(proc, f"http://127.0.0.1:{port}", lines, folder)


@pytest.fixture(scope="module")
def backing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(serving python, a Postgres database of its own, a private Redis URL)."""
    python = require_serve_python()
    folder = tmp_path_factory.mktemp("redis")
    redis = RedisServer(folder)
    redis.start()
    try:
        with own_database("recode_auth") as url:
            yield python, url, redis.url(db=2)
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def served(backing: tuple[str, str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    python, database, redis = backing
    folder = tmp_path_factory.mktemp("authserve")
    (folder / "auth.py").write_text(auth_block())
    (folder / f"{MARKER}.py").write_text(  # imported only if a run names it through the allowlist
        "from pathlib import Path\nPath(__file__).with_name('imported').write_text('yes')\n"
        "from recode_graph.models.scripted import load_fixture\n"
        "def make():\n    return load_fixture('hello')\n")
    config = {"graphs": {"recode": "recode_graph.graph:graph"}, "auth": {"path": "./auth.py:auth"},
              "env": {"RECODE_MODELS": f"greeter={MARKER}:make"}}
    serve = start_serve(python, folder, config, database, redis)
    try:
        assert serve.lines[-1:] == ["Ctrl-C stops them all"], (serve.lines, serve.stop())
        yield serve
    finally:
        out, err = serve.stop()
        assert "warning" not in err.lower(), err  # auth is configured: no warning at start


def client(serve: Serve, token: str | None) -> Any:
    from langgraph_sdk import get_sync_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return get_sync_client(url=serve.url, headers=headers)


def status_of(call: Any) -> int:
    """The HTTP status a client call fails with (0 when it does not fail)."""
    import httpx

    try:
        call()
    except httpx.HTTPStatusError as exc:
        return exc.response.status_code
    return 0


@pytest.mark.slow
def test_no_token_or_a_wrong_one_is_401(served: Serve) -> None:
    import httpx

    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "token-of-ann"},
                    {"Authorization": "Basic token-of-ann"}):
        for method, path, body in (("POST", "/threads", {}), ("POST", "/threads/search", {}),
                                   ("GET", "/assistants/search", None)):
            answer = httpx.request(method, served.url + path, json=body, headers=headers, timeout=60)
            assert answer.status_code == 401, (headers, path, answer.status_code, answer.text)
    assert httpx.post(served.url + "/threads", json={}, headers={"Authorization": "Bearer token-of-ann"},
                      timeout=60).status_code == 200


@pytest.mark.slow
def test_each_user_sees_resumes_and_deletes_only_their_own_threads(served: Serve) -> None:
    ann, bob = client(served, "token-of-ann"), client(served, "token-of-bob")
    thread = ann.threads.create()["thread_id"]
    context = {"model": "scripted:hello", "approve": "expansions"}
    state = ann.runs.wait(thread, "recode", input={"instruction": "Ada"}, context=context)
    pending = state["__interrupt__"][0]["value"]["action_requests"][0]
    assert pending["name"] == "expansion"
    before = ann.threads.get_state(thread)
    mine = bob.threads.create()["thread_id"]

    assert thread not in {t["thread_id"] for t in bob.threads.search(limit=100)}
    assert mine in {t["thread_id"] for t in bob.threads.search(limit=100)}
    assert mine not in {t["thread_id"] for t in ann.threads.search(limit=100)}
    edit = {"decisions": [{"type": "edit", "edited_action": {"name": "expansion",
                                                             "args": {"code": "final_answer('bob was here')"}}}]}
    refused = {
        "read": status_of(lambda: bob.threads.get(thread)),
        "state": status_of(lambda: bob.threads.get_state(thread)),
        "history": status_of(lambda: bob.threads.get_history(thread)),
        "resume with an edit": status_of(lambda: bob.runs.wait(thread, "recode", command={"resume": edit},
                                                               context=context)),
        "new run": status_of(lambda: bob.runs.create(thread, "recode", input={"instruction": "x"})),
        "update state": status_of(lambda: bob.threads.update_state(thread, {"answer": "bob"})),
        "delete": status_of(lambda: bob.threads.delete(thread)),
    }
    assert refused == dict.fromkeys(refused, 404), refused
    try:
        assert bob.runs.list(thread) == []  # Aegra answers an empty list for another user's thread
    except Exception as exc:  # noqa: BLE001 - or "not found"
        assert "404" in str(exc), exc

    after = ann.threads.get_state(thread)  # nothing bob tried reached ann's thread
    assert after["checkpoint"] == before["checkpoint"] and after["values"] == before["values"]
    assert after["interrupts"][0]["value"]["action_requests"][0] == pending
    approve = {"decisions": [{"type": "approve"}]}
    while state.get("__interrupt__"):
        state = ann.runs.wait(thread, "recode", command={"resume": approve}, context=context)
    assert state["status"] == "success" and state["answer"] == "Hello, Ada!"
    ann.threads.delete(thread)
    assert status_of(lambda: ann.threads.get(thread)) == 404


@pytest.mark.slow
def test_a_module_path_is_a_run_error_and_nothing_is_imported(served: Serve) -> None:
    ann = client(served, "token-of-ann")
    flag = served.folder / "imported"
    for spec in (f"{MARKER}:make", "os:abort", "gc:disable", "builtins:input"):
        thread = ann.threads.create()["thread_id"]
        with pytest.raises(Exception) as info:
            ann.runs.wait(thread, "recode", input={"instruction": "Ada"}, context={"model": spec})
        assert str(info.value).startswith(f"ModelError: unknown model spec '{spec}'"), str(info.value)
        assert not flag.exists()
    thread = ann.threads.create()["thread_id"]  # the server is alive, and the allowlisted name runs
    state = ann.runs.wait(thread, "recode", input={"instruction": "Ada"}, context={"model": "greeter"})
    assert state["answer"] == "Hello, Ada!" and flag.exists()


@pytest.mark.slow
@pytest.mark.parametrize(("context", "message"), [
    ({"max_depth": "deep"}, "ContextError: run context field `max_depth` must be an integer, got 'deep'"),
    ({"model": {"module": "os", "attr": "abort"}}, "ContextError: run context field `model` must be a string"),
])
def test_a_bad_context_field_is_a_run_error_naming_it(served: Serve, context: dict[str, Any], message: str) -> None:
    ann = client(served, "token-of-ann")
    thread = ann.threads.create()["thread_id"]
    with pytest.raises(Exception) as info:
        ann.runs.wait(thread, "recode", input={"instruction": "Ada"}, context={"model": "scripted:hello", **context})
    assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize(("body", "field"), [
    ({"assistant_id": "recode", "input": {"instruction": "hi \ud800"}}, "input.instruction"),
    ({"assistant_id": "recode", "input": {"messages": [{"role": "user", "content": "\udfff"}]}},
     "input.messages[0].content"),
    ({"assistant_id": "recode", "input": {"instruction": "a\x00b"}}, "input.instruction"),
])
def test_text_postgres_cannot_store_is_422_naming_the_field(served: Serve, body: dict[str, Any],
                                                            field: str) -> None:
    import httpx

    ann = client(served, "token-of-ann")
    thread = ann.threads.create()["thread_id"]
    headers = {"Authorization": "Bearer token-of-ann", "Content-Type": "application/json"}
    answer = httpx.post(f"{served.url}/threads/{thread}/runs/wait", content=json.dumps(body), headers=headers,
                        timeout=120)  # json.dumps writes the surrogate as \\ud800, as a client in any language may
    assert answer.status_code == 422, answer.text
    assert answer.json()["message"].startswith(f"{field}: holds "), answer.text
    assert ann.runs.list(thread) == []  # nothing was stored
    state = ann.runs.wait(thread, "recode", input={"instruction": "Ada"}, context={"model": "scripted:hello"})
    assert state["answer"] == "Hello, Ada!"  # the server and the thread are fine


@pytest.mark.slow
def test_without_auth_serve_warns_and_louder_off_loopback(backing: tuple[str, str, str], tmp_path: Path) -> None:
    python, database, redis = backing
    serve = start_serve(python, tmp_path, {"graphs": {"recode": "recode_graph.graph:graph"}}, database, redis,
                        "--host", "0.0.0.0")
    out, err = serve.stop()
    assert serve.lines[-1:] == ["Ctrl-C stops them all"], (serve.lines, err)
    (line,) = [line for line in err.splitlines() if "recode serve:" in line]
    assert line.startswith("recode serve: WARNING: NO AUTH ON 0.0.0.0: ANYONE WHO REACHES THESE PORTS"), line


@pytest.mark.slow
def test_a_handler_that_does_not_load_stops_serve_with_one_line(backing: tuple[str, str, str],
                                                                tmp_path: Path) -> None:
    python, database, redis = backing
    config = {"graphs": {"recode": "recode_graph.graph:graph"}, "auth": {"path": "./no_such_auth.py:auth"}}
    serve = start_serve(python, tmp_path, config, database, redis)
    out, err = serve.stop()
    assert serve.proc.returncode == 1 and "Ctrl-C stops them all" not in serve.lines, (serve.lines, err)
    (line,) = err.strip().splitlines()
    assert line.startswith("recode: error: server http://127.0.0.1:") and "AuthLoadError" in line, line
    assert "'./no_such_auth.py:auth' did not load" in line, line
