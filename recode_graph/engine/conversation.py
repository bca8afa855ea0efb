"""Messages in and out: the task from a chat, earlier turns as context, the answer as an ``AIMessage``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

MAX_TURNS = 10  # earlier messages shown to the root expansion
MAX_CHARS = 1000  # per message


def text_of(message: BaseMessage) -> str:
    return message.text if hasattr(message, "text") else str(message.content)


def pending_question(messages: Sequence[BaseMessage]) -> HumanMessage | None:
    """The last message when it is a human message not answered yet: the task of a chat turn."""
    if messages and isinstance(messages[-1], HumanMessage):
        return messages[-1]
    return None


def earlier_turns(messages: Sequence[BaseMessage]) -> str:
    """Earlier user/assistant turns as plain text ('' when there are none)."""
    lines = []
    for message in list(messages)[-MAX_TURNS:]:
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


def final_message(state: Any, status: str) -> AIMessage:
    """The answer, or what happened when there is none."""
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
    return AIMessage(content=text, response_metadata={"recode_status": status})
