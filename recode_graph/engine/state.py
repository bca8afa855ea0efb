"""The graph state: what every checkpoint holds.

Only checkpoint-safe values (str, int, float, bool, None, lists, dicts). The channels that grow with the
episode (tree, variables, trajectory, the variables' sizes, messages) are LangGraph ``DeltaChannel``s: a
checkpoint stores only the step's writes (the nodes it touched, the variables it changed, the calls it made,
the messages added) plus a full snapshot now and then. The tree and the trajectory grow by items, so they
snapshot once the updates since the last snapshot reach the number of items they hold (``GrowingDelta``):
each snapshot is paid for by as many writes, and the bytes stored stay linear in the episode (a tree node's
printed output is in a logarithmic number of snapshots, not in one of every 32 steps). Variables snapshot every
``SNAPSHOT_EVERY`` updates; ``recode_graph.engine.statesize`` counts a share of each snapshot against the
episode's history (``Limits.max_episode_bytes``). A new episode on the same thread resets all but ``messages``
with ``Overwrite``; ``messages`` keeps the whole conversation. The engine's control values (cursor, pending,
proposal, ...) share one delta channel, ``episode`` (``recode_graph.engine.episode``): each channel a thread has
written costs a version string in every later checkpoint, so fewer channels store fewer bytes per step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


class GrowingDelta(DeltaChannel):  # type: ignore[type-arg]
    """A ``DeltaChannel`` that snapshots once the updates since its last snapshot reach the number of items it
    holds (and at least ``snapshot_frequency``): snapshot bytes per update stay about one item's, so stored
    bytes grow linearly with the channel, not with its size times the number of steps."""

    __slots__ = ("_every",)

    @property  # type: ignore[override]
    def snapshot_frequency(self) -> int:
        value = getattr(self, "value", None)
        return max(self._every, len(value)) if isinstance(value, dict | list) else self._every

    @snapshot_frequency.setter
    def snapshot_frequency(self, every: int) -> None:
        self._every = every


# The fields a new node written without them gets (``TreeDraft.write`` leaves them, and the node's ``id``, out of
# the write of a node it creates): in TreeNode's order, so a filled node equals the node the step built.
NODE_FIELDS = tuple(TreeNode.__annotations__)
NODE_DEFAULTS: dict[str, Any] = {"children": [], "call": "", "targets": [], "uses": [], "status": "pending", "mode": "",
                                 "thought": "", "stdout": "", "error": "", "rewrites": 0, "repairs": 0, "usage": {},
                                 "at": 0}


def new_node(node_id: str, fields: Mapping[str, Any]) -> TreeNode:
    """The node ``fields`` (a write that creates ``node_id``) stands for: the fields left out take their defaults."""
    node: dict[str, Any] = {}
    for key in NODE_FIELDS:
        if key in fields:
            node[key] = fields[key]
        elif key == "id":
            node[key] = node_id
        elif key in NODE_DEFAULTS:
            default = NODE_DEFAULTS[key]
            node[key] = type(default)() if isinstance(default, list | dict) else default
    node.update(fields)  # any other field, after TreeNode's
    return node  # type: ignore[return-value]


def merge_tree_batch(state: dict[str, TreeNode], writes: Sequence[dict[str, TreeNode]]) -> dict[str, TreeNode]:
    """Each write holds the nodes a step touched: a known node's changed fields, or a new node (its default
    fields may be left out)."""
    out = dict(state or {})
    for write in writes:
        for key, update in (write or {}).items():
            known = out.get(key)
            out[key] = {**known, **update} if known is not None else new_node(key, update)  # type: ignore[typeddict-item]
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


def add_messages_batch(state: list[Any], writes: Sequence[Any]) -> list[Any]:
    """``add_messages`` over a batch of writes, as if they were applied one by one (so any batching gives the
    same list): writes without removals are merged in one pass, a write that removes messages on its own, in
    order. LangGraph stamps an id on every message before a write is saved, so a replay gives the same ids."""
    out = list(state or [])
    pending: list[Any] = []
    for write in writes:
        items = list(write) if isinstance(write, (list, tuple)) and not _is_pair(write) else [write]
        if any(_removes(m) for m in items):
            if pending:
                out, pending = add_messages(out, pending), []
            out = add_messages(out, items)
        else:
            pending.extend(items)
    return add_messages(out, pending) if pending else out


def _is_pair(write: Any) -> bool:
    """A ``(role, content)`` message tuple (one message, not a list of them)."""
    return isinstance(write, tuple) and len(write) == 2 and all(isinstance(x, str) for x in write)


def _removes(message: Any) -> bool:
    return getattr(message, "type", None) == "remove" or (isinstance(message, dict) and message.get("type") == "remove")


# The conversation grows by each step's messages: a checkpoint stores the step's writes, and a full copy only
# every MESSAGES_SNAPSHOT_EVERY updates (a copy every 32 steps would make a long episode's bytes per step grow
# with the conversation); reading a thread replays at most that many writes, in one pass.
MESSAGES_SNAPSHOT_EVERY = 500
MESSAGES = DeltaChannel(add_messages_batch, snapshot_frequency=MESSAGES_SNAPSHOT_EVERY)


def extend_batch(state: list[Any], writes: Sequence[list[Any]]) -> list[Any]:
    out = list(state or [])
    for write in writes:
        out.extend(write or [])
    return out


def variables_update(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The smallest update turning ``before`` into ``after``."""
    update: dict[str, Any] = {k: v for k, v in after.items()
                              if k not in before or (before[k] is not v and before[k] != v)}
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


class Episode(TypedDict, total=False):
    """The engine's own control values, in one channel (``episode``): read them with
    ``recode_graph.engine.episode.ep``. A node writes only the keys that change; ``None`` removes a key."""

    cursor: str  # the statement to run next (or the node to expand, with ``pending``)
    pending: Pending  # a request for the model: expand a placeholder or repair a failed statement
    proposal: Proposal  # an expansion waiting for human review (approve="expansions")
    next_id: int  # the id of the next tree node
    turn: int  # the episode's number in the thread (messages before it): tells episodes apart in message ids
    asking: dict[str, str]  # a reviewed call announced in messages before its request (engine.asking)
    run_error: str  # the run cannot go on (no model): finish raises it after the chat was told
    session: str  # key of this episode's environment adapter in the pool
    episode_key: str  # this episode's own key (set by start): its sandbox run (recode_graph.deps.run_handle)
    run_context: dict[str, Any]  # the run context's fields set at the episode's start (recode_graph.engine.runctx)
    # what the host keeps, measured once per change (recode_graph.engine.statesize): each variable's size, and
    # the totals "$trajectory" (bytes of the calls kept) and "$history" (bytes the episode has written); a write
    # holds the changed names (and ``__deleted__``, the names gone), merged as the variables are
    sizes: dict[str, int]


def merge_episode(state: dict[str, Any], writes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each write sets its keys (``sizes``: merges its changes); a ``None`` value removes the key."""
    out = dict(state or {})
    for write in writes:
        for key, value in (write or {}).items():
            if value is None:
                out.pop(key, None)
            elif key == "sizes":
                out[key] = merge_variables_batch(out.get(key) or {}, [value])
            else:
                out[key] = value
    return out


# the episode's outcome fields and their value while it runs (start clears an earlier episode's)
OUTCOME: dict[str, Any] = {"reason": "", "answer": None, "structured_response": None, "score": None}
# what finish gives a field of the output that no step wrote
UNSET: dict[str, Any] = {**OUTCOME, "observation": ""}


class Step(TypedDict):
    """One primitive call."""

    name: str
    args: Any
    output: Any
    node: str


class InputState(TypedDict, total=False):
    """What a run takes: chat ``messages`` (the last human message is the task) or an ``instruction``."""

    messages: Annotated[list[AnyMessage], MESSAGES]
    instruction: str
    observation: str
    task_id: str | int


class OutputState(TypedDict, total=False):
    """What a run returns: the conversation (ending with the answer) and the episode's public record."""

    messages: Annotated[list[AnyMessage], MESSAGES]
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
    messages: Annotated[list[AnyMessage], MESSAGES]  # the conversation: each turn's question, steps and answer
    # the engine's control values (cursor, pending, proposal, next_id, sizes, ...): one channel, so a step bumps one
    # version instead of one per field; only its changes are stored (a delta channel, snapshots now and then)
    episode: Annotated[Episode, DeltaChannel(merge_episode, snapshot_frequency=SNAPSHOT_EVERY)]
    instruction: str
    observation: str
    task_id: str | int
    task_type: str
    tree: Annotated[dict[str, TreeNode], GrowingDelta(merge_tree_batch, snapshot_frequency=SNAPSHOT_EVERY)]
    variables: Annotated[dict[str, Any], DeltaChannel(merge_variables_batch, snapshot_frequency=SNAPSHOT_EVERY)]
    trajectory: Annotated[list[Step], GrowingDelta(extend_batch, snapshot_frequency=SNAPSHOT_EVERY)]
    usage: Annotated[dict[str, int], add_usage]
    status: Status
    reason: str
    answer: str | None
    structured_response: Any  # final_answer's value validated against response_format (plain JSON data)
    score: float | None
    # Before ``episode``, each control value had a channel of its own. They are still declared so a thread
    # checkpointed then keeps them and resumes (``recode_graph.engine.episode`` reads them while ``episode`` is
    # empty, and its first write copies them over); this code never writes them, and a channel never written
    # costs a checkpoint nothing.
    turn: int
    asking: dict[str, str] | None
    run_error: str | None
    session: str
    episode_key: str
    run_context: dict[str, Any]
    next_id: int
    cursor: str | None
    pending: Pending | None
    proposal: Proposal | None
    sizes: Annotated[dict[str, int], DeltaChannel(merge_variables_batch, snapshot_frequency=SNAPSHOT_EVERY)]
