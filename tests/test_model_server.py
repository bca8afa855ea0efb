"""The local model as a server (``recode model serve``) and any OpenAI-compatible server as the model
(``recode run --base-url``, the run context's ``base_url``).

The served local model is started once as a real subprocess (the 0.5B weights: it loads in seconds; marked
slow) and called with ``ChatOpenAI``. The episodes run against a small OpenAI-compatible HTTP server written
here that answers with scripted ReCode expansions: the local model's answers to an open task are not
predictable, and an episode on it takes minutes on a loaded CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from recode_graph import expansion
from recode_graph.serving.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = [expansion("Compute it.", "final_answer(str(calculator('2 + 3 * 4')))")]


class Compatible(BaseHTTPRequestHandler):
    """``POST /v1/chat/completions`` answered from ``server.answers`` (plain or streamed), as vLLM would."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server: Any = self.server
        server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        text = server.answers[min(len(server.requests) - 1, len(server.answers) - 1)]
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        base = {"id": "c1", "created": 0, "model": body["model"]}
        if not body.get("stream"):
            self._send("application/json", json.dumps({**base, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}))
            return
        chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]},
                  {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, {"choices": [], "usage": usage}]
        events = "".join(f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', **c})}\n\n" for c in chunks)
        self._send("text/event-stream", events + "data: [DONE]\n\n")

    def _send(self, kind: str, text: str) -> None:
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def compatible() -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), Compatible)
    server.requests, server.answers = [], list(ANSWERS)
    server.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def recode(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "LANGSMITH_TRACING": "false",
           "OPENAI_API_KEY": "sk-must-not-leave-this-machine"}
    env.pop("RECODE_MODEL", None)
    return subprocess.run([sys.executable, "-m", "recode_graph.cli", *args], capture_output=True, text=True,
                          env=env, timeout=600, cwd=ROOT)


def test_recode_run_on_an_openai_compatible_server(tmp_path: Path, compatible: Any) -> None:
    done = recode(tmp_path, "run", "--base-url", compatible.url, "--model", "my-model", "--instruction",
                  "what is 2 + 3 * 4?", "--db", str(tmp_path / "t.sqlite"), "--thread", "t1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "14" in done.stdout
    request = compatible.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["model"] == "my-model"
    assert request["auth"] == "Bearer none"  # OPENAI_API_KEY is never sent to another server
    bad = recode(tmp_path, "run", "--base-url", "ftp://x", "--model", "m", "--instruction", "x")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "recode: error: no usable model: base_url must be an http(s) URL of an OpenAI-compatible server (e.g. "
        "http://127.0.0.1:8080/v1), got 'ftp://x'"]
    nameless = recode(tmp_path, "run", "--base-url", compatible.url, "--instruction", "x")
    assert nameless.returncode == 2 and "needs the model's name on that server" in nameless.stderr


def test_the_run_context_takes_a_base_url_and_a_served_graph_only_the_listed_ones(compatible: Any) -> None:
    from recode_graph.tools.langchain_bridge import as_tools

    from recode_graph import create_recode_agent
    from recode_graph.agent import build_graph, compile_agent
    from recode_graph.cli.demo import calculator
    from recode_graph.context import Settings
    from recode_graph.deps import AgentDeps

    agent = create_recode_agent("scripted:calc_demo", tools=[calculator])
    out = agent.invoke({"instruction": "2 + 3 * 4?"}, context={"model": "ctx-model", "base_url": compatible.url})
    assert out["status"] == "success" and out["answer"] == "14"
    assert compatible.requests[-1]["model"] == "ctx-model"

    def served(allowed: tuple[str, ...]) -> Any:
        deps = AgentDeps(model=None, tools=as_tools([calculator]), environment=None, examples=None,
                         settings=Settings(), base_urls=allowed)
        return compile_agent(build_graph(deps))

    context = {"model": "ctx-model", "base_url": compatible.url + "/"}
    assert served((compatible.url,)).invoke({"instruction": "x"}, context=context)["answer"] == "14"
    asked = len(compatible.requests)
    from recode_graph.models.errors import ModelError

    with pytest.raises(ModelError, match="not one this server allows"):  # as a server's other model errors
        served(()).invoke({"instruction": "x"}, context=context)
    assert len(compatible.requests) == asked  # the server never called the client's URL


@pytest.mark.slow
def test_recode_model_serve_answers_openai_clients(tmp_path: Path) -> None:
    """``recode model serve`` as a real subprocess (0.5B weights), called with langchain's ChatOpenAI."""
    from langchain_openai import ChatOpenAI

    try:
        import xllamacpp  # noqa: F401

        from recode_graph.models.local import model_spec, part_files

        part_files(model_spec("qwen2.5-coder-0.5b"))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            pytest.fail(f"local model not installed: {exc}")
        pytest.skip(f"local model not installed: {exc}")
    port = free_port()
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "recode_graph.cli", "model", "serve", "--model",
                             "local:qwen2.5-coder-0.5b", "--port", str(port), "--threads", "1"],
                            stdout=log, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 300
        while "serving" not in (tmp_path / "serve.log").read_text():
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "recode model serve did not start in 300 s"
            time.sleep(0.5)
        line = (tmp_path / "serve.log").read_text().splitlines()[0]
        assert f"at http://127.0.0.1:{port}/v1" in line and "'qwen2.5-coder-0.5b'" in line
        model = ChatOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="any", model="qwen2.5-coder-0.5b",  # type: ignore[arg-type]
                           temperature=0, max_tokens=8, timeout=300)
        reply = model.invoke("Reply with the single word: yes")
        assert reply.content.strip() and reply.usage_metadata["output_tokens"] > 0
        assert reply.response_metadata["model_name"] == "qwen2.5-coder-0.5b"  # its name, not the weights' path
        proc.terminate()
        assert proc.wait(timeout=60) == 143  # SIGTERM: the command's stop code, the port closed
        assert (tmp_path / "serve.log").read_text().splitlines()[-1] == "recode: model server stopped (SIGTERM)"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def test_recode_bench_on_an_openai_compatible_server(tmp_path: Path, compatible: Any) -> None:
    from recode_graph.bench.cli import main

    compatible.answers = [expansion("Look first.", "run('look around')\nfinal_answer('looked')")]
    out = tmp_path / "bench"
    code = main(["--env", "twx", "-n", "1", "--base-url", compatible.url, "--model", "bench-model", "--out", str(out),
                 "--no-progress", "--no-plots"])
    assert code == 0
    (record,) = [json.loads(p.read_text()) for p in out.glob("twx-*/episodes/recode/*.json")]
    assert record["model"] == "bench-model" and compatible.requests[0]["model"] == "bench-model"
    assert main(["--env", "twx", "-n", "1", "--base-url", compatible.url, "--model", "m", "--server",
                 "http://127.0.0.1:9", "--out", str(out)]) == 2  # the server's model runs there: refused
