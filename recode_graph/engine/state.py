"""The graph state: what every checkpoint holds.

Only checkpoint-safe values (str, int, float, bool, None, lists, dicts). The three channels that grow
with the episode (tree, variables, trajectory) are LangGraph ``DeltaChannel``s: a checkpoint stores only
the step's writes (the nodes it touched, the variables it changed, the calls it made) plus a full
snapshot every ``SNAPSHOT_EVERY`` updates, so checkpoint bytes grow linearly with the episode instead of
quadratically. A new episode on the same thread resets them with ``Overwrite``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from recode_graph.compat import load

DeltaChannel = load("DeltaChannel")  # beta: recode_graph.compat says which versions have it

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
    at: int  # primitive calls made in the episode before this node was created (orders the chat history)


DELETED = "__deleted__"  # key of a variables update listing names removed by `del`
SNAPSHOT_EVERY = 32


def merge_tree_batch(state: dict[str, TreeNode], writes: Sequence[dict[str, TreeNode]]) -> dict[str, TreeNode]:
    out = dict(state or {})
    for write in writes:
        for key, update in (write or {}).items():
            out[key] = {**out.get(key, {}), **update}  # type: ignore[typeddict-item]
    return out


def merge_variables_batch(state: dict[str, Any], writes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Variables updates hold the changed names; ``__deleted__`` lists names to drop."""
    out = dict(state or {})
    for write in writes:
        for key, value in (write or {}).items():
            if key == DELETED:
                for name in value:
                    out.pop(name, None)
            else:
                out[key] = value
    return out


def extend_batch(state: list[Any], writes: Sequence[list[Any]]) -> list[Any]:
    out = list(state or [])
    for write in writes:
        out.extend(write or [])
    return out


def variables_update(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The smallest update turning ``before`` into ``after``."""
    update: dict[str, Any] = {k: v for k, v in after.items() if k not in before or before[k] != v}
    gone = [k for k in before if k not in after]
    if gone:
        update[DELETED] = gone
    return update


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
    rejected: str  # digest of the previous rejected answer: the same answer again ends the re-asking (or,
    # when only its variable names were wrong, runs it; see nodes.expand.read_answer)
    feedback: str  # a reviewer's rejection message


class Proposal(TypedDict, total=False):
    """An expansion waiting for human review (approve="expansions")."""

    node: str
    mode: str
    thought: str
    code: str
    usage: dict[str, int]
    insisted: bool  # the model repeated an answer that reads undefined names: names are not checked again


class Step(TypedDict):
    """One primitive call."""

    name: str
    args: Any
    output: Any
    node: str


class InputState(TypedDict, total=False):
    """What a run takes: chat ``messages`` (the last human message is the task) or an ``instruction``."""

    messages: Annotated[list[AnyMessage], add_messages]
    instruction: str
    observation: str
    task_id: str | int


class OutputState(TypedDict, total=False):
    """What a run returns: the conversation (ending with the answer) and the episode's public record."""

    messages: Annotated[list[AnyMessage], add_messages]
    instruction: str
    observation: str
    task_id: str | int
    task_type: str
    tree: dict[str, TreeNode]  # (the channels themselves are declared by RecodeState)
    variables: dict[str, Any]
    trajectory: list[Step]
    usage: dict[str, int]
    status: Status
    reason: str
    answer: str | None
    structured_response: Any  # final_answer's value validated against response_format (plain JSON data)
    score: float | None


class RecodeState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]  # the conversation: one human/AI pair per episode
    session: str  # key of this episode's environment adapter in the pool
    run_context: dict[str, Any]  # the run context's fields set at the episode's start (recode_graph.engine.runctx)
    instruction: str
    observation: str
    task_id: str | int
    task_type: str
    tree: Annotated[dict[str, TreeNode], DeltaChannel(merge_tree_batch, snapshot_frequency=SNAPSHOT_EVERY)]
    next_id: int
    cursor: str | None
    pending: Pending | None
    proposal: Proposal | None
    variables: Annotated[dict[str, Any], DeltaChannel(merge_variables_batch, snapshot_frequency=SNAPSHOT_EVERY)]
    trajectory: Annotated[list[Step], DeltaChannel(extend_batch, snapshot_frequency=SNAPSHOT_EVERY)]
    usage: Annotated[dict[str, int], add_usage]
    status: Status
    reason: str
    answer: str | None
    structured_response: Any  # final_answer's value validated against response_format (plain JSON data)
    score: float | None
