"""What the baseline agents share: usage and message records, the episode result, the action text they are
shown and how an episode's end is named. The agents: ``react`` (ReAct) and ``codeact`` (CodeAct-style), on the
same model, environment adapter and step limit as ReCode.

Also ``CallRecorder``: a callback handler that keeps every chat-model call (messages in, text out) of an
episode, which is what ``recode export-sft`` turns into training pairs.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import LLMResult

from recode_graph.tools.base import Environment
from recode_graph.tools.grounding import prompt_note


# -- usage and message records ------------------------------------------------------------------------
def add_usage(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    for key, value in more.items():
        total[key] = total.get(key, 0) + int(value)
    return total


def text_of(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
    return "".join(parts)


def message_dict(message: BaseMessage) -> dict[str, Any]:
    """A chat message as plain JSON: role, content, and tool calls / tool call id when present."""
    role = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}.get(message.type,
                                                                                      message.type)
    out: dict[str, Any] = {"role": role, "content": text_of(message)}
    if isinstance(message, AIMessage) and message.tool_calls:
        out["tool_calls"] = [{"id": c.get("id") or "", "name": c["name"], "args": c.get("args", {})}
                             for c in message.tool_calls]
    if isinstance(message, AIMessage) and message.response_metadata.get("answer_text"):
        out["answer_text"] = message.response_metadata["answer_text"]  # what the model wrote, before parsing
    if isinstance(message, ToolMessage):
        out["tool_call_id"] = message.tool_call_id
    return out


class CallRecorder(BaseCallbackHandler):
    """Keeps each chat-model call of one episode: the messages sent and the text returned, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[UUID, list[dict[str, Any]]] = {}
        self._order: list[UUID] = []
        self._done: dict[UUID, str] = {}

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *,
                            run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._open[run_id] = [message_dict(m) for m in messages[0]]
            self._order.append(run_id)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        generation = response.generations[0][0] if response.generations and response.generations[0] else None
        if generation is None:
            return
        message = getattr(generation, "message", None)
        with self._lock:
            self._done[run_id] = text_of(message) if message is not None else generation.text

    def calls(self) -> dict[str, Any]:
        """``{"system_prompts": [...], "calls": [{"system": index, "user", "assistant"}]}`` (systems deduped)."""
        systems: list[str] = []
        calls: list[dict[str, Any]] = []
        with self._lock:
            for run_id in self._order:
                if run_id not in self._done:
                    continue
                messages = self._open[run_id]
                system = "\n".join(m["content"] for m in messages if m["role"] == "system")
                user = "\n".join(m["content"] for m in messages if m["role"] != "system")
                if system not in systems:
                    systems.append(system)
                calls.append({"system": systems.index(system), "user": user, "assistant": self._done[run_id]})
        return {"system_prompts": systems, "calls": calls}


@dataclass
class EpisodeResult:
    """What a baseline episode produced (the harness adds ids, model and timings)."""

    status: str
    reason: str
    score: float
    won: bool
    instruction: str
    task_type: str
    usage: dict[str, int] = field(default_factory=dict)
    trajectory: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    resumed: bool = False  # continued from a checkpoint of an earlier, interrupted run

    def as_record(self) -> dict[str, Any]:
        record = {"status": self.status, "reason": self.reason, "score": self.score, "won": self.won,
                  "answer": None, "instruction": self.instruction, "task_type": self.task_type,
                  "usage": self.usage, "trajectory": self.trajectory, "messages": self.messages,
                  "steps": sum(1 for s in self.trajectory if s["name"] in ("act", "run"))}
        return {**record, "resumed": True} if self.resumed else record


def env_actions(env: Environment, task_type: str, call: str) -> str:
    """The environment's action grammar as written for ReCode, with ``run(action)`` renamed to ``call``."""
    resources = env.prompt_resources(task_type)
    text = resources.actions.strip().replace("run(action)", f"{call}(action)").replace("run(", f"{call}(")
    notes = "\n".join(n for n in (resources.notes.strip(), prompt_note(env, code=call == "run")) if n)
    return text + ("\n\n" + notes if notes else "")


_CONTEXT_FULL = re.compile(r"context (?:size|length|window)|maximum context|too many tokens|context_length_exceeded",
                           re.I)


def overflow_reason(exc: BaseException) -> str | None:
    """The episode's end reason when ``exc`` says the conversation no longer fits the model's context
    window; None for any other error."""
    if not _CONTEXT_FULL.search(str(exc)):
        return None
    return f"the conversation outgrew the model's context window ({' '.join(str(exc).split())[:160]})"


def end_reason(env: Environment, stopped_by: str) -> tuple[str, str]:
    if env.won:
        return "success", "task completed"
    if env.done and env.steps >= env.step_limit:
        return "failed", f"step limit reached ({env.step_limit})"
    if env.done:
        return "failed", "the environment ended the episode"
    return "failed", stopped_by
