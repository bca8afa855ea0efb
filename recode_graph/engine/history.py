"""The episode's work as chat messages, the way chat UIs (LangGraph Studio, Agent Chat UI) draw an agent.

Each expansion is an ``AIMessage`` whose text is the model's thought and the code it wrote (a fenced python
block: both UIs render markdown); each primitive call is an ``AIMessage`` with one tool call (id, name, the
arguments actually used) followed by its ``ToolMessage`` (content, artifact, status). They come in the order
they happened: an expansion before the calls its code made. ``final_answer`` is not repeated as a call: the
answer is the last message. The messages are built once, when the episode ends, from the tree and the
trajectory (nothing is written per step, so checkpoints stay small).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

KIND = "recode_kind"  # response_metadata key marking the messages made here ("expansion", "call")
MAX_CONTENT = 4000  # characters of a tool output shown in a ToolMessage (the trajectory keeps it whole)
HIDDEN_CALLS = frozenset({"final_answer"})


def is_step(message: BaseMessage) -> bool:
    """A message of an episode's work (not a user turn or an answer)."""
    return isinstance(message, ToolMessage) or (
        isinstance(message, AIMessage) and message.response_metadata.get(KIND) in ("expansion", "call"))


def expansions(tree: Mapping[str, Any]) -> list[tuple[int, str, list[str]]]:
    """(primitive calls before it, expanded node, the statements it added) in the order they happened."""
    groups: dict[tuple[str, int], list[str]] = {}
    for node_id, node in tree.items():
        if node.get("parent") is not None:
            groups.setdefault((str(node["parent"]), int(node.get("at") or 0)), []).append(node_id)
    ordered = sorted(groups.items(), key=lambda item: (item[0][1], min(_order(c) for c in item[1])))
    return [(at, parent, sorted(children, key=_order)) for (parent, at), children in ordered]


def _order(node_id: str) -> tuple[int, str]:
    return (int(node_id), node_id) if node_id.isdigit() else (1 << 62, node_id)


def expansion_message(tree: Mapping[str, Any], parent: str, children: Sequence[str], last: bool,
                      prefix: str) -> AIMessage:
    node = tree.get(parent) or {}
    call = str(node.get("code", "")).strip()
    code = "\n".join(str(tree[c].get("code", "")) for c in children)
    thought = str(node.get("thought") or "").strip() if last else ""
    verb = "Repairing" if last and node.get("mode") == "repair" else "Expanding"
    text = f"{verb} `{call}`" + (f": {thought}" if thought else "") + f"\n\n```python\n{code}\n```"
    return AIMessage(content=text, id=f"{prefix}-x{parent}-{children[0]}",
                     response_metadata={KIND: "expansion", "recode_node": parent})


def call_messages(step: Mapping[str, Any], call_id: str) -> list[BaseMessage]:
    name = str(step.get("name", ""))
    args = step.get("args")
    args = dict(args) if isinstance(args, Mapping) else {"input": args}
    output = step.get("output")
    content = output if isinstance(output, str) else "" if output is None else str(output)
    if len(content) > MAX_CONTENT:
        content = content[:MAX_CONTENT] + f"… ({len(content) - MAX_CONTENT} more characters)"
    status = "error" if step.get("status") in ("error", "blocked") else "success"
    return [AIMessage(content="", id=f"recode-{call_id}", tool_calls=[{"id": call_id, "name": name, "args": args}],
                      response_metadata={KIND: "call", "recode_node": step.get("node")}),
            ToolMessage(content=content, tool_call_id=call_id, name=name, artifact=step.get("artifact"),
                        status=status, id=f"recode-result-{call_id}")]


def step_messages(tree: Mapping[str, Any], trajectory: Sequence[Mapping[str, Any]], session: str,
                  episode: str) -> list[BaseMessage]:
    """The expansions and primitive calls of one episode, in the order they happened."""
    prefix = "recode-" + hashlib.sha1(f"{session}|{episode}".encode()).hexdigest()[:12]  # unique per episode
    groups = expansions(tree)
    last_of = {parent: i for i, (_, parent, _) in enumerate(groups)}
    messages: list[BaseMessage] = []
    pending = iter(enumerate(groups))
    upcoming = next(pending, None)
    for index, step in enumerate([*trajectory, None]):
        while upcoming is not None and (step is None or upcoming[1][0] <= index):
            i, (_, parent, children) = upcoming
            messages.append(expansion_message(tree, parent, children, last_of[parent] == i, prefix))
            upcoming = next(pending, None)
        if step is not None and step.get("name") not in HIDDEN_CALLS:
            ident = str(step.get("call_id") or _call_id(session, episode, index))
            messages.extend(call_messages(step, ident))
    return messages


def _call_id(session: str, episode: str, index: int) -> str:
    return "call_" + hashlib.sha1(f"{session}|{episode}|{index}".encode()).hexdigest()[:24]
