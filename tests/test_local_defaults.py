"""The local model's defaults are the measured configuration: answers stop at ``</execute>`` and are capped at 512
tokens with no flags (issue 34). The requests go to a real HTTP server on 127.0.0.1 that records each body and
answers like llama.cpp's OpenAI endpoint, so no weights are loaded; tests/test_local_model.py checks the same
against the real llama.cpp server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from recode_graph.bench.config import REACT_LOCAL_MAX_TOKENS, default_max_tokens, with_max_tokens
from recode_graph.bench.harness import make_config
from recode_graph.models import local
from recode_graph.models.errors import ModelError
from recode_graph.models.localchat import DEFAULT_MAX_TOKENS, local_chat_model
from recode_graph.models.resolve import resolve_model


class Recorder(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Recorder.bodies.append(body)
        reply = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": "<execute>\nrun('look')\n"}}],
                            "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def endpoint() -> Iterator[str]:
    Recorder.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def cap(body: dict[str, Any]) -> Any:
    return body.get("max_completion_tokens", body.get("max_tokens"))


def test_local_requests_stop_at_the_answer_end_and_are_capped(endpoint: str, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.delenv("RECODE_LOCAL_MAX_TOKENS", raising=False)
    model = local_chat_model(endpoint, "qwen2.5-coder-1.5b")
    assert model.invoke("hi").content.startswith("<execute>")
    sent = Recorder.bodies[-1]
    assert sent["stop"] == ["</execute>"] and cap(sent) == DEFAULT_MAX_TOKENS == 512 and sent["temperature"] == 0

    model.invoke("hi", stop=["\nObservation:"], max_tokens=7)  # what a caller passes wins (ReAct's stop)
    assert Recorder.bodies[-1]["stop"] == ["\nObservation:"] and cap(Recorder.bodies[-1]) == 7
    with_max_tokens(model, 100).invoke("hi")  # recode bench --max-tokens 100
    assert cap(Recorder.bodies[-1]) == 100 and Recorder.bodies[-1]["stop"] == ["</execute>"]

    monkeypatch.setenv("RECODE_LOCAL_MAX_TOKENS", "64")
    local_chat_model(endpoint, "qwen2.5-coder-1.5b").invoke("hi")
    assert cap(Recorder.bodies[-1]) == 64


def test_resolve_local_carries_the_defaults(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``resolve_model("local")`` (what ``--model local`` and ``"local"`` in code use) builds that model; the
    llama.cpp process is replaced by the recording endpoint so no weights load."""
    monkeypatch.delenv("RECODE_LOCAL_MAX_TOKENS", raising=False)
    started: list[str] = []

    def server(name: str = "", **_: Any) -> Any:
        started.append(name)
        return SimpleNamespace(url=endpoint.removesuffix("/v1"), spec=local.model_spec(name),
                               stats=local.PrefixCacheStats())

    monkeypatch.setattr(local, "local_server", server)
    model = resolve_model("local")
    assert (model.max_tokens, model.stop, model.temperature) == (512, ["</execute>"], 0.0)  # type: ignore[attr-defined]
    model.invoke("hi")
    assert Recorder.bodies[-1]["stop"] == ["</execute>"] and cap(Recorder.bodies[-1]) == 512
    assert resolve_model("local:qwen2.5-coder-0.5b", temperature=0.5).temperature == 0.5  # type: ignore[attr-defined]

    monkeypatch.setenv("RECODE_LOCAL_MAX_TOKENS", "many")
    with pytest.raises(ModelError, match="RECODE_LOCAL_MAX_TOKENS must be an integer"):
        resolve_model("local")
    assert started == ["", "qwen2.5-coder-0.5b"]  # the bad setting failed before any server start


def test_bench_defaults_are_the_published_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECODE_LOCAL_MAX_TOKENS", raising=False)

    def cap_of(agent: str, model: str, **options: Any) -> int | None:
        cfg = make_config("alfworld", "unseen", 2, agent, model, out_dir=tmp_path, **options)
        return default_max_tokens(cfg, model)

    assert cap_of("recode", "local") == 512 and cap_of("codeact", "local:qwen2.5-coder-0.5b") == 512
    assert cap_of("react", "local") == REACT_LOCAL_MAX_TOKENS == 160  # as benchmarks/local-1.5b-v4/commands.txt
    assert cap_of("recode", "local", max_tokens=300) == 300 and cap_of("react", "local", max_tokens=64) == 64
    assert cap_of("recode", "openai:gpt-4o-mini") is None  # an API model keeps its own
    monkeypatch.setenv("RECODE_LOCAL_MAX_TOKENS", "256")
    assert cap_of("recode", "local") == 256
