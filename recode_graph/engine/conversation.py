"""Messages in and out: the task from a chat, earlier turns as context, the answer as an ``AIMessage``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata

from recode_graph.engine.history import is_step

MAX_TURNS = 10  # earlier messages shown to the root expansion
MAX_CHARS = 1000  # per message


def text_of(message: BaseMessage) -> str:
    """The message's text as a plain ``str`` (langchain-core's ``.text`` is a str subclass, which must not
    reach the state or a sandbox worker)."""
    return str(message.text) if hasattr(message, "text") else str(message.content)


def pending_question(messages: Sequence[BaseMessage]) -> HumanMessage | None:
    """The last message when it is a human message not answered yet: the task of a chat turn."""
    if messages and isinstance(messages[-1], HumanMessage):
        return messages[-1]
    return None


def earlier_turns(messages: Sequence[BaseMessage]) -> str:
    """Earlier user/assistant turns as plain text ('' when there are none)."""
    lines = []
    for message in [m for m in messages if not is_step(m)][-MAX_TURNS:]:
        if is_step(message):
            continue  # an earlier episode's work: only the answers are context
        if isinstance(message, HumanMessage):
            who = "User"
        elif isinstance(message, AIMessage):
            who = "Assistant"
        else:
            continue
        text = " ".join(text_of(message).split())
        if text:
            lines.append(f"{who}: {text[:MAX_CHARS]}{'...' if len(text) > MAX_CHARS else ''}")
    return "Earlier conversation:\n" + "\n".join(lines) if lines else ""


def final_message(state: Any, status: str, model_name: str = "") -> AIMessage:
    """The answer, or what happened when there is none, with the episode's summed token usage."""
    answer = state.get("answer")
    reason = state.get("reason") or ""
    if answer is not None and status == "success":
        text = str(answer)
    elif status == "success":
        text = f"Done ({reason or 'all steps done'})."
    elif answer is not None:
        text = f"{answer}\n\n(The task was not completed: {reason}.)"
    else:
        text = f"I could not complete the task: {reason or 'the episode failed'}."
    usage = state.get("usage") or {}
    metadata: dict[str, Any] = {"recode_status": status, "recode_model_calls": int(usage.get("calls", 0))}
    if model_name:
        metadata["model_name"] = model_name
    return AIMessage(content=text, response_metadata=metadata, usage_metadata=usage_metadata(usage))


def usage_metadata(usage: dict[str, Any]) -> UsageMetadata:
    """The state's usage (summed over the episode's model calls) in LangChain's ``usage_metadata`` form."""
    given, made = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
    summed = UsageMetadata(input_tokens=given, output_tokens=made, total_tokens=given + made)
    if usage.get("cached_tokens"):
        summed["input_token_details"] = {"cache_read": int(usage["cached_tokens"])}
    return summed
