"""Protocol-level checks shared by all adapters: factory, errors, data directory, prompt format."""

from __future__ import annotations

import ast
import re

import pytest
from recode_graph.tools import EnvError, Environment, load_environment
from recode_graph.tools.alfworld import AlfWorld
from recode_graph.tools.sciworld import ScienceWorld
from recode_graph.tools.sciworld_text import canonical
from recode_graph.tools.twx import TextWorldExpress
from recode_graph.tools.webshop import WebShop

EXAMPLE_RE = re.compile(
    r"^Expand: [^\n]+\nVariables:\n(  \w+ = [^\n]+\n)+(Must assign: \w+(, \w+)*\n)?Answer:\n<think>[^\n]+</think>\n"
    r"<execute>\n(?P<code>.+?)\n</execute>$",
    re.S,
)


def test_unknown_name_lists_names() -> None:
    with pytest.raises(EnvError) as err:
        load_environment("minecraft")
    message = str(err.value)
    assert "\n" not in message and all(n in message for n in ("alfworld", "sciworld", "webshop", "twx"))


@pytest.mark.parametrize("name", ["alfworld", "sciworld"])
def test_missing_data_dir(name: str, tmp_path, monkeypatch) -> None:
    with pytest.raises(EnvError, match="data_dir") as err:
        load_environment(name, data_dir=tmp_path / "nowhere")
    assert "\n" not in str(err.value)
    monkeypatch.setenv("RECODE_DATA_DIR", str(tmp_path))
    with pytest.raises(EnvError, match="RECODE_DATA_DIR"):
        load_environment(name)


def test_adapters_follow_protocol_and_spawn() -> None:
    adapters = [AlfWorld(split="seen"), ScienceWorld(), TextWorldExpress(), WebShop()]
    for env in adapters:
        assert isinstance(env, Environment)
        twin = env.spawn()
        assert type(twin) is type(env) and twin is not env and twin.list_tasks() == env.list_tasks()
        with pytest.raises(EnvError):
            env.step("look")  # before reset
        env.close()


def _examples(text: str) -> list[str]:
    return [block for block in re.split(r"\n\n(?=Expand: )", text)]


@pytest.mark.parametrize("env,kinds", [
    (AlfWorld(split="seen"), ["put", "clean", "heat", "cool", "examine", "puttwo"]),
    (ScienceWorld(), [""]), (TextWorldExpress(), [""]), (WebShop(), [""]),
])
def test_prompt_examples_format(env: Environment, kinds: list[str]) -> None:
    for kind in kinds:
        resources = env.prompt_resources(kind)
        assert "run(" in resources.actions or "run(action)" in resources.actions
        blocks = _examples(resources.examples)
        assert len(blocks) >= 2 and len(resources.examples) < 6000
        for block in blocks:
            found = EXAMPLE_RE.match(block)
            assert found, block[:200]
            tree = ast.parse(found["code"])
            for node in ast.walk(tree):
                assert not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom)
            assert "run(" in found["code"] or any(isinstance(n, ast.Call) for n in ast.walk(tree))


def test_canonical_order_keeps_children_and_choices() -> None:
    text = "In it, you see:\n\tthe b\n\tthe a\n\t\tchild of a\nYou also see:\n\tA door"
    assert canonical(text) == "In it, you see:\n\tthe a\n\t\tchild of a\n\tthe b\nYou also see:\n\tA door"
    choices = "Ambiguous request:\n\t0: cup b\n\t1: cup a"
    assert canonical(choices) == choices
