"""A run context chooses among models and settings; it never names code. The served graph (langgraph.json's
``recode_graph.graph:graph``) and a library agent, invoked for real: a module path is a one-line run error with
nothing imported, an allowlisted name runs, and every context field of the wrong type or form is one line
naming the field."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.context import ContextError, RecodeContext
from recode_graph.models.errors import ModelError

MARKER_MODULE = "recode_ctx_marker_mod"


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An importable module (on sys.path) that leaves a file behind when it is imported, with a factory."""
    flag = tmp_path / "imported"
    (tmp_path / f"{MARKER_MODULE}.py").write_text(
        f"from pathlib import Path\nPath({str(flag)!r}).write_text('imported')\n"
        "from recode_graph.models.scripted import load_fixture\n"
        "def make():\n    return load_fixture('hello')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(MARKER_MODULE, None)
    yield flag
    sys.modules.pop(MARKER_MODULE, None)


def served() -> object:
    from recode_graph.graph import graph

    return graph


@pytest.mark.parametrize("spec", [f"{MARKER_MODULE}:make", f"{MARKER_MODULE}.x:make", "os:abort", "gc:disable",
                                  "tempfile:mkdtemp", "builtins:input"])
def test_the_served_graph_refuses_a_module_path_and_imports_nothing(marker: Path, spec: str) -> None:
    import gc

    with pytest.raises(ModelError) as info:
        served().invoke({"instruction": "Ada"}, context={"model": spec})  # type: ignore[attr-defined]
    message = str(info.value)
    assert "is not a model provider" in message and "a module path is never imported" in message
    assert "\n" not in message
    assert MARKER_MODULE not in sys.modules and not marker.exists()
    assert gc.isenabled()


def test_the_served_graph_runs_an_allowlisted_name(marker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECODE_MODELS", f"greeter={MARKER_MODULE}:make")
    out = served().invoke({"instruction": "Ada"}, context={"model": "greeter"})  # type: ignore[attr-defined]
    assert out["answer"] == "Hello, Ada!" and marker.exists()


@pytest.mark.parametrize(("context", "field", "words"), [
    ({"max_depth": "deep"}, "max_depth", "must be an integer, got 'deep'"),
    ({"max_depth": 2.5}, "max_depth", "must be an integer"),
    ({"max_depth": -1}, "max_depth", "must be at least 0"),
    ({"max_rewrites": [1]}, "max_rewrites", "must be an integer, got list"),
    ({"model": {"module": "os", "attr": "abort"}}, "model", "must be a string, got dict"),
    ({"model": ["openai:gpt-4o-mini"]}, "model", "must be a string, got list"),
    ({"environment": 3}, "environment", "must be a string, got int"),
    ({"split": "seen\x1b[2J"}, "split", "control characters"),
    ({"grounding": "snap\ud800"}, "grounding", "lone surrogates"),
    ({"approve": 7}, "approve", "invalid run context: approve"),
])
def test_a_bad_context_field_is_one_line_naming_it(context: dict[str, object], field: str, words: str) -> None:
    model = ScriptedChatModel(by_call={"solve": expansion("t", "final_answer('x')")})
    for graph in (served(), create_recode_agent(model)):
        with pytest.raises(ContextError) as info:
            graph.invoke({"instruction": "Ada"}, context={"model": "scripted:hello", **context})  # type: ignore[attr-defined]
        message = str(info.value)
        assert (f"`{field}`" in message or f": {field}:" in message) and words in message and "\n" not in message


def test_integer_fields_given_as_digits_still_work() -> None:
    assert RecodeContext(max_depth="3", max_rewrites="-1").max_depth == 3  # type: ignore[arg-type]
    out = served().invoke({"instruction": "Ada"},  # type: ignore[attr-defined]
                          context={"model": "scripted:hello", "max_depth": "4"})
    assert out["answer"] == "Hello, Ada!"
