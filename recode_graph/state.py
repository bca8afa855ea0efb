"""The graph state: what every checkpoint holds.

Only checkpoint-safe values (str, int, float, bool, None, lists, dicts). The tree is a dict of nodes by
id merged field-wise, so a step writes only the nodes it touched; the trajectory is append-only; usage
is summed.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from typing_extensions import TypedDict

Status = Literal["running", "success", "failed"]
NodeStatus = Literal["pending", "expanded", "done", "failed", "skipped"]


class TreeNode(TypedDict, total=False):
    """One code node: a top-level statement of an expansion (or the root call)."""

    id: str
    parent: str | None
    children: list[str]
    code: str  # the statement (for the root: the solve(...) call)
    call: str  # placeholder function name when the statement is a placeholder call, else ""
    targets: list[str]  # names the placeholder call assigns (`a, b = f(x)`)
    uses: list[str]  # variable names the statement reads (shown to the model)
    depth: int
    status: NodeStatus
    mode: str  # how it was expanded: "placeholder" or "repair"
    thought: str
    stdout: str
    error: str
    rewrites: int
    repairs: int
    usage: dict[str, int]


def merge_tree(left: dict[str, TreeNode] | None, right: dict[str, TreeNode] | None) -> dict[str, TreeNode]:
    """Field-wise merge of node updates; ``{"id": None}`` is not used (nodes are never deleted)."""
    out: dict[str, TreeNode] = dict(left or {})
    for key, update in (right or {}).items():
        out[key] = {**out.get(key, {}), **update}  # type: ignore[typeddict-item]
    return out


def add_usage(left: dict[str, int] | None, right: dict[str, int] | None) -> dict[str, int]:
    out = dict(left or {})
    for key, value in (right or {}).items():
        out[key] = out.get(key, 0) + int(value)
    return out


class Pending(TypedDict, total=False):
    """A request for the model: expand a placeholder or repair a failed statement."""

    node: str
    mode: Literal["placeholder", "repair"]
    error: str  # traceback or failure shown in repair mode
    hint: str  # why the previous answer was rejected (rewrite)
    feedback: str  # a reviewer's rejection message


class Proposal(TypedDict, total=False):
    """An expansion waiting for human review (approve="expansions")."""

    node: str
    mode: str
    thought: str
    code: str
    usage: dict[str, int]


class Step(TypedDict):
    """One primitive call."""

    name: str
    args: Any
    output: Any
    node: str


class InputState(TypedDict, total=False):
    instruction: str
    observation: str
    task_id: str | int


class RecodeState(TypedDict, total=False):
    session: str  # key of this episode's environment adapter in the pool
    instruction: str
    observation: str
    task_id: str | int
    task_type: str
    tree: Annotated[dict[str, TreeNode], merge_tree]
    next_id: int
    cursor: str | None
    pending: Pending | None
    proposal: Proposal | None
    variables: dict[str, Any]
    trajectory: Annotated[list[Step], operator.add]
    usage: Annotated[dict[str, int], add_usage]
    status: Status
    reason: str
    answer: str | None
    score: float | None
