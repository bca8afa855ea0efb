"""The episode's work as chat messages, the way chat UIs (LangGraph Studio, Agent Chat UI) draw an agent.

Each model answer is an ``AIMessage``: an expansion's text is the model's thought and the code it wrote (a
fenced python block: both UIs render markdown), an answer that could not be used says why. Each primitive call
is an ``AIMessage`` with one tool call (id, name, the arguments actually used) followed by its ``ToolMessage``
(content, artifact, status). ``final_answer`` is not repeated as a call: the answer is the last message.

They are written as the steps happen: the expand node writes its answer's message (under the id the model's
streamed chunks carried), the execute node the calls its statement made, so ``values``/``updates``/``messages``
streams show the work live. Ids are derived from the thread's session, the episode's ``turn`` and the step,
so a replayed or resumed step writes the same messages again (``add_messages`` replaces them by id).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from recode_graph.engine.episode import ep
from recode_graph.engine.toolcall import call_id

KIND = "recode_kind"  # response_metadata key marking the messages made here ("expansion", "call", "rewrite")
STEP_KINDS = ("expansion", "call", "rewrite")
MAX_CONTENT = 4000  # characters of a tool output shown in a ToolMessage (the trajectory keeps it whole)
HIDDEN_CALLS = frozenset({"final_answer"})


def is_step(message: BaseMessage) -> bool:
    """A message of an episode's work (not a user turn or an answer)."""
    return isinstance(message, ToolMessage) or (
        isinstance(message, AIMessage) and message.response_metadata.get(KIND) in STEP_KINDS)


def prefix(session: str, turn: int) -> str:
    """The id prefix of one episode's messages (unique per thread and episode)."""
    return "recode-" + hashlib.sha1(f"{session}|{turn}".encode()).hexdigest()[:12]


def episode_turn(state: Mapping[str, Any]) -> int:
    """The episode's number in its thread (set by the start node; 0 for a thread written before it was)."""
    return int(ep(state, "turn") or 0)


def step_call_id(session: str, turn: int, node: str, index: int) -> str:
    """The id of the ``index``-th call (from 1) a statement made: the ``tool_call_id`` the tool itself was given."""
    return call_id(session, turn, node, index)


def message_id(state: Mapping[str, Any], response: Any, fallback: str) -> str:
    """The id of the message a model answer becomes: the answer's own id (the one its streamed chunks carried)
    unless the conversation already has a message with it, else a name made from the step."""
    given = getattr(response, "id", None)
    if isinstance(given, str) and given and not any(m.id == given for m in state.get("messages") or ()):
        return given
    return f"{prefix(str(ep(state, 'session', '')), episode_turn(state))}-{fallback}"


def expansion_message(call: str, mode: str, thought: str, code: str, ident: str, node: str,
                      note: str = "") -> AIMessage:
    """An expansion (or a repair) of ``call``: the thought and the code, as the model gave it."""
    verb = "Repairing" if mode == "repair" else "Expanding"
    thought = thought.strip()
    text = f"{verb} `{call.strip()}`" + (f": {thought}" if thought else "") + f"\n\n```python\n{code.strip()}\n```"
    if note:
        text += f"\n\n{note}"
    return AIMessage(content=text, id=ident, response_metadata={KIND: "expansion", "recode_node": node})


def rewrite_message(call: str, hint: str, ident: str, node: str) -> AIMessage:
    """A model answer that could not be used: why (the model is asked again with this hint)."""
    text = f"The code written for `{call.strip()}` could not be used: {hint}"
    return AIMessage(content=text, id=ident, response_metadata={KIND: "rewrite", "recode_node": node})


def call_message(name: str, args: Any, call_id: str, node: str) -> AIMessage:
    args = dict(args) if isinstance(args, Mapping) else {"input": args}
    return AIMessage(content="", id=f"recode-{call_id}", tool_calls=[{"id": call_id, "name": name, "args": args}],
                     response_metadata={KIND: "call", "recode_node": node})


def result_message(step: Mapping[str, Any], call_id: str) -> ToolMessage:
    output = step.get("output")
    content = output if isinstance(output, str) else "" if output is None else str(output)
    if len(content) > MAX_CONTENT:
        content = content[:MAX_CONTENT] + f"… ({len(content) - MAX_CONTENT} more characters)"
    status = "error" if step.get("status") in ("error", "blocked") else "success"
    return ToolMessage(content=content, tool_call_id=call_id, name=str(step.get("name", "")),
                       artifact=step.get("artifact"), status=status, id=f"recode-result-{call_id}")


def call_messages(step: Mapping[str, Any], call_id: str) -> list[BaseMessage]:
    """A primitive call and its result."""
    name = str(step.get("name", ""))
    return [call_message(name, step.get("args"), call_id, str(step.get("node", ""))),
            result_message(step, call_id)]


def step_messages(state: Mapping[str, Any], steps: Iterable[Mapping[str, Any]]) -> list[BaseMessage]:
    """The messages of the primitive calls one execute step made (``steps``, in order; each started call made
    one, numbered from 1 as the statement started them)."""
    session, turn = str(ep(state, "session", "")), episode_turn(state)
    out: list[BaseMessage] = []
    shown = [step for step in steps if step.get("name") not in HIDDEN_CALLS]
    for index, step in enumerate(shown, start=1):
        out.extend(call_messages(step, step_call_id(session, turn, str(step.get("node", "")), index)))
    return out


def unanswered(messages: Sequence[BaseMessage], written: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """Tool calls announced at the end of ``messages`` (a reviewed call shown before its request) that neither
    the conversation nor ``written`` answers: a rejected call, whose statement ended before it ran."""
    answered = {m.tool_call_id for m in [*messages, *written] if isinstance(m, ToolMessage)}
    asked = [c for m in messages[-3:] if isinstance(m, AIMessage) and m.response_metadata.get(KIND) == "call"
             for c in m.tool_calls]
    return [c for c in asked if c["id"] not in answered]


def refused_message(call: Mapping[str, Any], error: str) -> ToolMessage:
    """The result of an announced call that did not run (the reviewer rejected it)."""
    return ToolMessage(content=error, tool_call_id=str(call["id"]), name=str(call.get("name", "")), status="error",
                       id=f"recode-result-{call['id']}")
