"""A step's tree write holds only what changes (issue 35): the merged tree is the same as with the full nodes."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.engine.code import Statement
from recode_graph.engine.state import merge_tree_batch
from recode_graph.engine.tree import TreeDraft, attach, root_node


def _expanded_root() -> tuple[dict[str, Any], TreeDraft, list[str]]:
    base = {"0": root_node()}
    draft = TreeDraft(base)
    statements = [Statement("a = f(1)", call="f", targets=["a"]),
                  Statement("b = g(a)", call="g", targets=["b"], uses=["a"]), Statement("print(b)", uses=["b"])]
    ids = attach(draft, "0", statements, mode="placeholder", thought="t", usage={"calls": 1}, at=3)
    return base, draft, ids


def test_a_new_node_is_written_without_its_default_fields_and_merges_to_the_full_node() -> None:
    base, draft, ids = _expanded_root()
    write = draft.write()
    for node_id in ids:
        assert "id" not in write[node_id] and "stdout" not in write[node_id] and "status" not in write[node_id]
        assert write[node_id]["code"] and write[node_id]["at"] == 3
    full = merge_tree_batch(base, [draft.updates])
    compact = merge_tree_batch(base, [write])
    assert compact == full
    assert all(list(compact[k]) == list(full[k]) for k in full)  # the same fields in the same order
    assert compact[ids[0]]["children"] is not compact[ids[1]]["children"]  # defaults are not shared


def test_a_known_node_is_written_with_the_fields_that_change_only() -> None:
    base, draft, ids = _expanded_root()
    tree = merge_tree_batch(base, [draft.write()])
    step = TreeDraft(tree)
    step.set(ids[0], status="done", stdout="", error="")
    step.set(ids[1], stdout="", error="")  # nothing changes
    assert step.write() == {ids[0]: {"status": "done"}}
    assert merge_tree_batch(tree, [step.write()]) == merge_tree_batch(tree, [step.updates])
    step.set(ids[1], repairs=False)  # another type is a change
    assert step.write()[ids[1]] == {"repairs": False}


def test_writes_of_full_nodes_from_before_merge_as_they_did() -> None:
    base, draft, _ = _expanded_root()
    old = {k: dict(v) for k, v in draft.updates.items()}
    assert merge_tree_batch(base, [old]) == {**base, **{k: {**base.get(k, {}), **v} for k, v in old.items()}}


@tool
def bump(value: int) -> int:
    """Return value + 1."""
    return value + 1


def test_an_episode_with_a_repair_stores_small_tree_writes_and_reads_back_the_tree_it_built() -> None:
    model = ScriptedChatModel(by_call={"solve": expansion("", "x = part(1)\nfinal_answer(str(x))"),
                                       "part": expansion("", "x = bump(1)\nx = 1 / 0"),
                                       "repair:x": expansion("", "x = bump(x)")})
    saver = InMemorySaver()
    agent = create_recode_agent(model, tools=[bump], checkpointer=saver)
    cfg = {"configurable": {"thread_id": "tree-writes"}}
    out = agent.invoke({"instruction": "go"}, cfg)
    assert out["answer"] == "3"
    failed = [n for n in out["tree"].values() if n["code"] == "x = 1 / 0"]
    assert failed and failed[0]["status"] == "done" and "ZeroDivisionError" in failed[0]["error"]
    for node in out["tree"].values():
        assert set(node) >= {"id", "parent", "children", "code", "status", "stdout", "error", "usage"}
    history = [s.values["tree"] for s in agent.get_state_history(cfg) if s.values.get("tree")]
    assert history[0] == out["tree"]
    writes = [w[2] for ws in saver.writes.values() for w in ws.values() if w[1] == "tree"]
    node_writes = [saver.serde.loads_typed(w) for w in writes]
    done = [v for w in node_writes if isinstance(w, dict) for v in w.values() if v.get("status") == "done"]
    assert done and all("stdout" not in v for v in done if len(v) == 1)
