"""A chat model for ReAct tests: it answers ``Think: go.`` and ``Action: <next>`` from a script (the last action
again once the script is used up) and keeps what each call was shown, with its stop sequences."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult


class Recording(BaseChatModel):
    """Answers ``Action: <next>`` from a script and keeps each call's messages and stop sequence."""

    script: list[str]
    seen: list[tuple[list[BaseMessage], Any]] = []

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        self.seen.append((list(messages), stop))
        action = self.script[min(len(self.seen) - 1, len(self.script) - 1)]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(f"Think: go.\nAction: {action}\n\n"))])

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self.bind(**kwargs)
