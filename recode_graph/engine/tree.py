"""The expansion tree: creating nodes, attaching expansions, depth-first advance, failure propagation.

All functions work on a ``TreeDraft``: the tree from the state plus the updates of the current step, so a
node returns only the nodes it touched (the state's tree reducer merges them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recode_graph.engine.code import Statement
from recode_graph.engine.state import NODE_DEFAULTS, Pending, TreeNode

ROOT = "0"
ROOT_CALL = "solve(instruction, observation)"


class TreeDraft:
    def __init__(self, tree: dict[str, TreeNode] | None, next_id: int = 1) -> None:
        self.base = tree or {}
        self.updates: dict[str, TreeNode] = {}
        self.next_id = next_id

    def get(self, node_id: str) -> TreeNode:
        node = dict(self.base.get(node_id, {}))
        node.update(self.updates.get(node_id, {}))
        return node  # type: ignore[return-value]

    def set(self, node_id: str, **fields: Any) -> None:
        self.updates.setdefault(node_id, {}).update(fields)  # type: ignore[typeddict-item]

    def add(self, node: TreeNode) -> None:
        self.updates[node["id"]] = node

    def write(self) -> dict[str, TreeNode]:
        """The tree write of the step: for a node the tree has, the fields whose value changes; for a new node,
        its fields but those at their default (and its ``id``, the key): ``state.merge_tree_batch`` fills them in.
        The merged tree is the same as with ``updates``; the write, stored in the step's checkpoint, is smaller."""
        out: dict[str, TreeNode] = {}
        for node_id, fields in self.updates.items():
            known = self.base.get(node_id)
            if known is None:
                out[node_id] = {k: v for k, v in fields.items()  # type: ignore[assignment]
                                if not (k == "id" and v == node_id) and not _same(NODE_DEFAULTS.get(k, _NONE), v)}
                continue
            changed = {k: v for k, v in fields.items() if not _same(known.get(k, _NONE), v)}
            if changed:
                out[node_id] = changed  # type: ignore[assignment]
        return out

    def new_id(self) -> str:
        node_id = str(self.next_id)
        self.next_id += 1
        return node_id


_NONE = object()


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type (``0`` is not ``False``, ``[]`` is not ``{}``)."""
    return type(a) is type(b) and a == b


def root_node() -> TreeNode:
    return TreeNode(id=ROOT, parent=None, children=[], code=ROOT_CALL, call="solve", targets=[],
                    uses=["instruction", "observation"], depth=0, status="pending", mode="", thought="",
                    stdout="", error="", rewrites=0, repairs=0, usage={})


def attach(draft: TreeDraft, parent_id: str, statements: list[Statement], *, mode: str, thought: str,
           usage: dict[str, int], at: int = 0) -> list[str]:
    """Make ``statements`` the next children of ``parent_id``; returns their ids."""
    parent = draft.get(parent_id)
    inherited = parent.get("repairs", 0) if mode == "repair" else 0
    ids: list[str] = []
    for st in statements:
        node_id = draft.new_id()
        ids.append(node_id)
        draft.add(TreeNode(id=node_id, parent=parent_id, children=[], code=st.code, call=st.call,
                           targets=st.targets, uses=st.uses, depth=parent.get("depth", 0) + 1,
                           status="pending", mode="", thought="", stdout="", error="", rewrites=0,
                           repairs=inherited, usage={}, at=at))
    own_usage = dict(parent.get("usage") or {})
    for key, value in usage.items():
        own_usage[key] = own_usage.get(key, 0) + value
    draft.set(parent_id, children=list(parent.get("children", [])) + ids, status="expanded", mode=mode,
              thought=thought, usage=own_usage, error=parent.get("error", "") if mode == "repair" else "")
    return ids


@dataclass
class Advance:
    cursor: str | None = None
    pending: Pending | None = None
    failed: str = ""  # the episode failed (root could not be repaired)
    completed: list[str] = field(default_factory=list)


def advance(draft: TreeDraft, node_id: str, variables: dict[str, Any], max_repairs: int) -> Advance:
    """``node_id`` finished: find the next pending statement depth-first, closing finished parents."""
    current = node_id
    out = Advance()
    while True:
        node = draft.get(current)
        parent_id = node.get("parent")
        if parent_id is None:
            out.cursor = None
            return out
        parent = draft.get(parent_id)
        siblings = parent.get("children", [])
        later = siblings[siblings.index(current) + 1:] if current in siblings else []
        nxt = next((c for c in later if draft.get(c).get("status") == "pending"), None)
        if nxt is not None:
            out.cursor, out.pending = nxt, placeholder_pending(draft, nxt)
            return out
        missing = [t for t in parent.get("targets", []) if t not in variables]
        if missing:
            reason = (f"the code written for `{parent.get('code', '')}` finished without assigning "
                      f"{', '.join(missing)}")
            return fail(draft, parent_id, reason, max_repairs, repair_self=True)
        draft.set(parent_id, status="done")
        out.completed.append(parent_id)
        if parent_id == ROOT:
            out.cursor = None
            return out
        current = parent_id


def placeholder_pending(draft: TreeDraft, node_id: str) -> Pending | None:
    """The request to expand ``node_id`` when it is a placeholder still to expand (else None): the step that moves
    the cursor onto a placeholder asks for its expansion at once, so the graph goes straight to expand (no
    superstep of its own that only sets ``pending``)."""
    node = draft.get(node_id)
    if node.get("call") and node.get("status") == "pending":
        return Pending(node=node_id, mode="placeholder")
    return None


def fail(draft: TreeDraft, node_id: str, reason: str, max_repairs: int, *, repair_self: bool = False
         ) -> Advance:
    """A statement failed for good (or needs repair): repair it or the nearest ancestor with budget left.

    With ``repair_self`` the node itself is repaired when its budget allows (runtime errors); otherwise
    the node is marked failed and the failure travels up as a failed sub-goal.
    """
    node = draft.get(node_id)
    if repair_self and node.get("repairs", 0) < max_repairs:
        _skip_pending(draft, node_id)
        draft.set(node_id, status="pending", error=reason, repairs=node.get("repairs", 0) + 1)
        return Advance(cursor=node_id, pending=Pending(node=node_id, mode="repair", error=reason))
    draft.set(node_id, status="failed", error=reason)
    _skip_pending(draft, node_id)
    child_code = node.get("code", "")
    current = node.get("parent")
    while current is not None:
        anc = draft.get(current)
        if anc.get("repairs", 0) < max_repairs:
            _skip_pending(draft, current)
            why = f"the step `{' '.join(child_code.split())[:200]}` failed: {reason}"
            draft.set(current, status="pending", error=why, repairs=anc.get("repairs", 0) + 1)
            return Advance(cursor=current, pending=Pending(node=current, mode="repair", error=why))
        draft.set(current, status="failed", error=f"a step failed and the repair budget is spent: {reason}")
        _skip_pending(draft, current)
        child_code = anc.get("code", "")
        current = anc.get("parent")
    return Advance(failed=reason)


def close_episode(draft: TreeDraft, node_id: str) -> None:
    """The episode stopped at ``node_id`` (environment finished, final answer): its ancestors are done and
    every statement that did not get to run is skipped."""
    current = draft.get(node_id).get("parent")
    while current is not None:
        _skip_pending(draft, current)
        draft.set(current, status="done")
        current = draft.get(current).get("parent")


def _skip_pending(draft: TreeDraft, node_id: str) -> None:
    for child in draft.get(node_id).get("children", []):
        status = draft.get(child).get("status")
        if status == "pending":
            draft.set(child, status="skipped")
        elif status == "expanded":
            draft.set(child, status="skipped")
            _skip_pending(draft, child)


def ancestors(tree: dict[str, TreeNode], node_id: str) -> list[TreeNode]:
    out: list[TreeNode] = []
    current = tree.get(node_id, {}).get("parent")
    while current is not None and current in tree:
        out.append(tree[current])
        current = tree[current].get("parent")
    return out


def stats(tree: dict[str, TreeNode]) -> dict[str, float]:
    """Paper Table 8 figures: max depth, mean branching of expanded nodes, share of placeholder nodes."""
    if not tree:
        return {"nodes": 0, "depth": 0, "branching": 0.0, "placeholder_share": 0.0}
    expanded = [n for n in tree.values() if n.get("children")]
    branching = sum(len(n["children"]) for n in expanded) / len(expanded) if expanded else 0.0
    placeholders = [n for n in tree.values() if n.get("call") and n.get("id") != ROOT]
    others = len(tree) - 1
    return {"nodes": len(tree), "depth": max(n.get("depth", 0) for n in tree.values()),
            "branching": round(branching, 3),
            "placeholder_share": round(len(placeholders) / others, 3) if others else 0.0}
