"""Scripted chat models: deterministic stand-ins for an LLM in tests, demos and benchmarks.

``ScriptedChatModel`` answers either from a list (in order) or from a mapping keyed by the name of the
placeholder being expanded (read from the ``Expand:`` line of the prompt), so concurrent episodes and
re-runs get the same answer for the same call. A fixture name (``scripted:<name>``) loads a JSON file
from ``recode_graph/models/fixtures``. These are test aids, not agents.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

FIXTURES = Path(__file__).parent / "fixtures"
_HEAD_RE = re.compile(r"^(Expand|Repair):(.*)$", re.M)
_CALLEE_RE = re.compile(r"^\s*(?:\w+\s*(?:,\s*\w+)*\s*=\s*)?([A-Za-z_]\w*)\s*\(")
_IDENT_RE = re.compile(r"[A-Za-z_]\w*")

Responder = Callable[[str], str]


def _text(messages: Sequence[BaseMessage]) -> str:
    return "\n".join(m.content if isinstance(m.content, str) else json.dumps(m.content) for m in messages)


def called_name(prompt: str) -> str:
    """The key of the prompt's last ``Expand:``/``Repair:`` line: the placeholder name for an expansion,
    ``repair:<name>`` for a repair (name = the callee, else the statement's first identifier)."""
    heads = _HEAD_RE.findall(prompt)
    if not heads:
        return ""
    kind, rest = heads[-1]
    callee = _CALLEE_RE.match(rest)
    ident = _IDENT_RE.search(rest)
    name = callee.group(1) if callee else (ident.group(0) if ident else "")
    return f"repair:{name}" if kind == "Repair" else name


class ScriptedChatModel(GenericFakeChatModel):
    """A chat model that replays scripted responses, with token usage and optional latency.

    - ``responses``: a list answered in order (thread-safe), or
    - ``by_call``: {placeholder name: response or [responses in order]}, or
    - ``responder``: any function of the full prompt text.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    messages: Iterator[Any] = Field(default_factory=lambda: iter(()))
    responses: list[Any] = Field(default_factory=list)  # answers: text, or a list of content blocks
    by_call: dict[str, Any] = Field(default_factory=dict)
    responder: Responder | None = None
    latency: float = 0.0
    name_: str = "scripted"
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _index: int = PrivateAttr(default=0)
    _per_call: dict[str, int] = PrivateAttr(default_factory=dict)
    calls: list[str] = Field(default_factory=list)  # prompts seen, for assertions

    @property
    def _llm_type(self) -> str:
        return "scripted-chat"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        return self

    def _answer(self, prompt: str) -> Any:
        with self._lock:
            self.calls.append(prompt)
            if self.responder is not None:
                return self.responder(prompt)
            if self.by_call:
                name = called_name(prompt)
                if name not in self.by_call:
                    raise KeyError(f"scripted model has no response for placeholder {name!r}")
                value = self.by_call[name]
                if isinstance(value, str):
                    return value
                i = self._per_call.get(name, 0)
                self._per_call[name] = i + 1
                return value[min(i, len(value) - 1)]
            if self._index >= len(self.responses):
                raise IndexError(f"scripted model ran out of responses after {len(self.responses)}")
            out = self.responses[self._index]
            self._index += 1
            return out

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        prompt = _text(messages)
        if self.latency:
            time.sleep(self.latency)
        return _result(prompt, self._answer(prompt))

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: Any = None, **kwargs: Any) -> ChatResult:
        import asyncio

        if self.latency:
            await asyncio.sleep(self.latency)
        prompt = _text(messages)
        return _result(prompt, self._answer(prompt))


def _result(prompt: str, content: Any) -> ChatResult:
    """The answer as an ``AIMessage`` with token usage (``content``: text or a list of content blocks, as
    providers return them)."""
    size = len(content) if isinstance(content, str) else len(json.dumps(content, default=str))
    usage = {"input_tokens": max(1, len(prompt) // 4), "output_tokens": max(1, size // 4),
             "total_tokens": max(1, len(prompt) // 4) + max(1, size // 4)}
    msg = AIMessage(content=content, usage_metadata=usage)  # type: ignore[arg-type]
    return ChatResult(generations=[ChatGeneration(message=msg)])


def load_fixture(name: str, **options: Any) -> ScriptedChatModel:
    """``scripted:<name>``: a JSON fixture holding a list (in order) or a mapping (by placeholder)."""
    path = FIXTURES / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in FIXTURES.glob("*.json"))) or "none"
        raise ValueError(f"unknown scripted fixture {name!r} (known: {known})")
    data = json.loads(path.read_text())
    if isinstance(data, Mapping):
        return ScriptedChatModel(by_call=dict(data), **options)
    return ScriptedChatModel(responses=list(data), **options)


def expansion(think: str, code: str) -> str:
    """Format one scripted expansion in the ReCode answer format."""
    return f"<think>{think}</think>\n<execute>\n{code.strip()}\n</execute>"
