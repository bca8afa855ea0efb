"""ScienceWorld few-shot expansions by task family: executed as written (each ``Expand:`` answer run as the body of
its function) on real seen tasks, they must solve them, so a model that copies them acts validly."""

from __future__ import annotations

from typing import Any

import pytest
from recode_graph.tools import load_environment
from recode_graph.tools.sciworld import family_of

from recode_graph.bench import demos


def run_examples(env: Any, task_id: str) -> list[str]:
    """Reset ``task_id`` and run the examples' ``solve`` on it; the actions taken."""
    return [action for action, _ in demos.run_examples(env, task_id)[1]]


@pytest.fixture(scope="module")
def sciworld() -> Any:
    env = load_environment("sciworld", split="seen")
    yield env
    env.close()


@pytest.mark.parametrize("task_id", [
    "task-3-find-living-thing:186", "task-3-find-plant:179", "task-3-find-non-living-thing:150",
    "task-6-lifespan-(shortest-lived):69", "task-6-lifespan-(longest-lived):83",
    "task-6-lifespan-(longest-lived-then-shortest-lived):87", "task-2-power-component:11",
    "task-2-power-component-(renewable-vs-nonrenewable-energy):14",
    "task-5-chemistry-mix-paint-(secondary-color):25",
])
def test_family_examples_solve_seen_tasks_as_written(sciworld: Any, task_id: str) -> None:
    actions = run_examples(sciworld, task_id)
    assert sciworld.won, (task_id, sciworld.score, actions)
    assert sciworld.steps <= sciworld.step_limit


def test_find_example_focuses_on_an_animal_even_when_the_step_limit_cuts_the_delivery(sciworld: Any) -> None:
    actions = run_examples(sciworld, "task-3-find-animal:193")  # even the gold path needs 16 of 15 steps
    assert "focus on beaver" in actions and sciworld.score >= 0.75


def test_families_and_prompt_resources() -> None:
    assert [family_of(t) for t in ("find-animal", "task-3-find-plant:2", "lifespan-shortest-lived",
                                   "power-component-renewable-vs-nonrenewable-energy",
                                   "chemistry-mix-paint-tertiary-color", "chemistry-mix", "boil")] == \
        ["find", "find", "lifespan", "power", "paint", "", ""]
    env = load_environment("sciworld", split="seen")
    try:
        lifespan = env.prompt_resources("lifespan-longest-lived")
        generic = env.prompt_resources("boil")
        assert "giant tortoise 150" in lifespan.notes and not generic.notes
        for resources in (lifespan, generic):
            assert "Expand: walk_to(start, goal)" in resources.examples
            assert "House map" in resources.actions
        assert set(demos.expansions(generic.examples)) == {"solve", "find_thing_in", "walk_to"}
    finally:
        env.close()


def example_texts() -> list[tuple[str, str]]:
    """(label, few-shot text) of every environment's examples: ALFWorld per type, ScienceWorld per family."""
    from recode_graph.tools.alfworld import TASK_TYPES
    from recode_graph.tools.prompting import prompt_text
    from recode_graph.tools.sciworld import FAMILIES

    texts = [(f"alfworld_{k}", prompt_text(f"alfworld_{k}") + "\n\n" + prompt_text("alfworld_common"))
             for k in sorted(set(TASK_TYPES.values()))]
    texts += [(f"sciworld_{k}", prompt_text(f"sciworld_{k}") + "\n\n" + prompt_text("sciworld_common"))
              for k in [*sorted(set(FAMILIES.values())), "examples"]]
    return texts + [(name, prompt_text(name)) for name in ("twx_examples", "webshop_examples")]


@pytest.mark.parametrize(("label", "text"), example_texts())
def test_every_example_answer_passes_the_expansion_check(label: str, text: str) -> None:
    """A model that copies an example must not be refused (e.g. a sub-goal call inside an ``if``)."""
    from recode_graph.engine.code import validate
    from recode_graph.sandbox import module_facades, safe_builtins_dict

    known = set(safe_builtins_dict()) | set(module_facades()) | {"run", "print"}
    found = demos.expansions(text)
    assert found, label
    for name, (params, body, _) in found.items():
        validate(body, known, expanding=(name, ", ".join(params)), variables=set(params))
