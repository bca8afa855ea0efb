"""The private langgraph / langchain names recode-graph uses (recode_graph.compat) are where it expects them.

When an upgrade moves one, this test fails with the name, the installed version and the supported range
(scripts/check_floors.sh runs it at the floor versions; make test at the installed ones)."""

from __future__ import annotations

import pytest

from recode_graph import compat


@pytest.mark.parametrize("name", sorted(compat.PRIVATE))
def test_every_private_name_is_where_this_release_expects_it(name: str) -> None:
    try:
        compat.load(name)
    except ImportError as exc:
        pytest.fail(f"a private import moved: {exc}")


def test_the_private_names_keep_their_behaviour() -> None:
    """What the project relies on besides the names: the config keys' values, the configurable model's
    default-model method, a RunnableCallable with a sync and an async function and no trace of its own."""
    import asyncio

    assert compat.load("CONFIG_KEY_CHECKPOINTER") == "__pregel_checkpointer"
    assert compat.load("CONFIG_KEY_DURABILITY") == "__pregel_durability"
    assert callable(getattr(compat.load("ConfigurableModel"), "_model", None)), "_ConfigurableModel._model moved"

    async def afunc(x: int) -> int:
        return x + 2

    node = compat.load("RunnableCallable")(lambda x: x + 1, afunc, name="n", trace=False)
    assert node.invoke(1) == 2 and asyncio.run(node.ainvoke(1)) == 3


def test_a_moved_name_is_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(compat.PRIVATE, "Gone", ("langgraph.channels", "NoSuchChannel", "langgraph"))
    with pytest.raises(ImportError, match=r"langgraph\.channels\.NoSuchChannel, which langgraph [0-9.]+ does not "
                       r"have; this recode-graph release supports langgraph >=1\.2\.13"):
        compat.load("Gone")


def test_no_private_import_outside_compat() -> None:
    """Every private langgraph / langchain import goes through recode_graph.compat."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    private = re.compile(r"^\s*(from|import)\s+(langgraph|langchain\w*)\S*\._\w|"
                         r"^\s*from\s+(langgraph|langchain\w*)\S*\s+import\s+.*\b_[A-Za-z]\w*|"
                         r"^\s*from\s+langgraph\.constants\s+import\s+CONFIG_KEY|__pregel_")
    found = [f"{path.relative_to(root)}:{n}: {line.strip()}"
             for folder in ("recode_graph", "nodes", "tools") for path in (root / folder).rglob("*.py")
             if path.name != "compat.py"
             for n, line in enumerate(path.read_text().splitlines(), 1) if private.search(line)]
    assert found == [], "route these through recode_graph.compat:\n" + "\n".join(found)
