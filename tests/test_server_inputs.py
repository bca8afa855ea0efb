"""What a client sends a real ``langgraph dev`` (this project's langgraph.json) that it must not be able to do:
name a module as the model (a run error, the module never imported, the server alive), send context fields of
the wrong type (one line naming the field), send text that is not text (a 4xx, the server alive). The same
under ``recode serve`` is in tests/test_server_auth.py."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, serve

MARKER = "recode_dev_marker_mod"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(URL, the file the marker module writes when imported) of a ``langgraph dev`` whose PYTHONPATH holds an
    importable marker module, allowlisted as ``greeter``."""
    folder = tmp_path_factory.mktemp("devserver")
    (folder / f"{MARKER}.py").write_text(
        "from pathlib import Path\nPath(__file__).with_name('imported').write_text('yes')\n"
        "from recode_graph.models.scripted import load_fixture\n"
        "def make():\n    return load_fixture('hello')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(folder)]), "RECODE_MODELS": f"greeter={MARKER}:make",
           "RECODE_MODEL": "", "OPENAI_API_KEY": ""}
    with serve(ROOT, folder / "server.log", **env) as url:
        yield url, folder / "imported"


def client(url: str) -> Any:
    from langgraph_sdk import get_sync_client

    return get_sync_client(url=url)


@pytest.mark.slow
def test_a_module_path_is_a_run_error_and_nothing_is_imported(dev: tuple[str, Path]) -> None:
    url, flag = dev
    sdk = client(url)
    for spec in (f"{MARKER}:make", f"{MARKER}.sub:make", "os:abort", "gc:disable", "tempfile:mkdtemp"):
        thread = sdk.threads.create()["thread_id"]
        with pytest.raises(Exception) as info:
            sdk.runs.wait(thread, "recode", input={"instruction": "Ada"}, context={"model": spec})
        assert str(info.value).startswith(f"ModelError: unknown model spec '{spec}'"), str(info.value)
        assert "a module path is never imported" in str(info.value) and not flag.exists()
    thread = sdk.threads.create()["thread_id"]  # alive, and the operator's name runs the operator's factory
    state = sdk.runs.wait(thread, "recode", input={"instruction": "Ada"}, context={"model": "greeter"})
    assert state["answer"] == "Hello, Ada!" and flag.exists()


@pytest.mark.slow
@pytest.mark.parametrize(("context", "message"), [
    ({"max_depth": "deep"}, "ContextError: run context field `max_depth` must be an integer, got 'deep'"),
    ({"model": {"module": "os", "attr": "abort"}}, "ContextError: run context field `model` must be a string, "
                                                   "got dict"),
    ({"max_rewrites": 1.5}, "ContextError: run context field `max_rewrites` must be an integer"),
])
def test_a_bad_context_field_is_a_run_error_naming_it(dev: tuple[str, Path], context: dict[str, Any],
                                                      message: str) -> None:
    sdk = client(dev[0])
    thread = sdk.threads.create()["thread_id"]
    with pytest.raises(Exception) as info:
        sdk.runs.wait(thread, "recode", input={"instruction": "Ada"}, context={"model": "scripted:hello", **context})
    assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)


@pytest.mark.slow
def test_a_lone_surrogate_is_a_4xx_and_the_server_goes_on(dev: tuple[str, Path]) -> None:
    import httpx

    sdk = client(dev[0])
    thread = sdk.threads.create()["thread_id"]
    body = {"assistant_id": "recode", "input": {"instruction": "hi \ud800"}, "context": {"model": "scripted:hello"}}
    answer = httpx.post(f"{dev[0]}/threads/{thread}/runs/wait", content=json.dumps(body),
                        headers={"Content-Type": "application/json"}, timeout=120)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    state = sdk.runs.wait(thread, "recode", input={"instruction": "Ada"}, context={"model": "scripted:hello"})
    assert state["answer"] == "Hello, Ada!"
