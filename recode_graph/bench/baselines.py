"""Baseline agents for the benchmark, on the same model, environment adapter and step limit as ReCode.

- ReAct: langchain's ``create_agent`` with one tool, ``act(action)``, that steps the environment; the
  loop ends when the environment is done, the model stops calling the tool, or the model-call limit.
- CodeAct-style: one conversation; each turn the model writes a Python block that may call
  ``run(action)``; it runs at once in the same sandbox ReCode uses (``recode_graph.sandbox.run_code``)
  with one namespace kept across turns; the observations and printed output come back as the next user
  message. No placeholders.

Also ``CallRecorder``: a callback handler that keeps every chat-model call (messages in, text out) of an
episode, which is what ``recode export-sft`` turns into training pairs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import LLMResult

from recode_graph.sandbox import EpisodeStop, Limits, run_code
from recode_graph.tools.base import Environment
from recode_graph.tools.grounding import mode_of, prompt_note
from recode_graph.usage import usage_of

OBSERVATION_LIMIT = 4000


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


# -- ReAct ---------------------------------------------------------------------------------------------
REACT_SYSTEM = """\
You are an agent acting in a text environment. Call the tool act(action) with exactly one action at a
time; it returns the observation. Before each action, think briefly about what to do next. Keep acting
until the task is done. The actions below are not tools: pass them as the action argument, e.g.
act(action="<one action, written as in the list>").

Actions:
{actions}
"""


class EnvSlot:
    """The adapter a worker's agent acts on (the act tool reads it at call time)."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.trajectory: list[dict[str, Any]] = []
        self.resumed = False  # the current episode continues a checkpointed conversation

    def step(self, action: str) -> str:
        observation = self.env.step(action)
        self.trajectory.append({"name": "act", "args": {"action": action}, "output": observation, "node": ""})
        return observation


_CALL = re.compile(r"\bact\(\s*(?:action\s*=\s*)?([\"'])(.+?)\1\s*\)", re.S)
_ACTION_LINE = re.compile(r"^\s*Action:\s*(.+?)\s*$", re.M)
NUDGE = ('Your reply did not call the act tool, so nothing happened. Reply with one tool call: '
         'act(action="<one action, written as in the action list>").')


def _json_call(text: str) -> str | None:
    """The action of the first JSON object with a ``name`` in ``text`` (``{"name": "act", "arguments":
    {"action": ...}}``; a model that names the action itself, ``{"name": "go to", "arguments":
    {"receptacle": "desk 1"}}``, gives ``go to desk 1``)."""
    import json

    decoder = json.JSONDecoder()
    for start in [i for i, ch in enumerate(text) if ch == "{"]:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            continue
        args = value.get("arguments", value.get("args", value.get("parameters", {})))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                args = {"action": args}
        args = args if isinstance(args, dict) else {}
        if value["name"] == "act":
            action = args.get("action") or next((v for v in args.values() if isinstance(v, str)), "")
            return str(action).strip() or None
        words = [value["name"], *(str(v) for v in args.values() if isinstance(v, str | int | float))]
        return " ".join(w.strip() for w in words if str(w).strip()) or None
    return None


def text_tool_call(text: str) -> str | None:
    """The action of an ``act`` call written as text (small local models often do): a JSON call object
    (in ``<tool_call>`` tags, a code fence or bare), ``act("...")`` or an ``Action: ...`` line; else None."""
    found = _json_call(text)
    if found:
        return found
    for pattern, group in ((_CALL, 2), (_ACTION_LINE, 1)):
        match = pattern.search(text)
        if match and match.group(group).strip():
            return match.group(group).strip()
    return None


def windowed(messages: Sequence[BaseMessage], window: int) -> list[BaseMessage]:
    """What the ReAct model sees: the opening messages (system, task) and the last ``window`` to
    ``2 * window - 1`` steps (a step = an answer and the messages after it). Older steps are dropped ``window``
    at a time, so the prompt keeps the same beginning for ``window`` calls in a row (the prefix cache hits);
    a note says how many were left out. ``window`` 0 keeps everything."""
    starts = [i for i, m in enumerate(messages) if isinstance(m, AIMessage)]
    if window <= 0 or len(starts) < 2 * window:
        return list(messages)
    drop = (len(starts) - window) // window * window
    note = HumanMessage(f"({drop} earlier steps are not shown.)")
    return [*messages[: starts[0]], note, *messages[starts[drop]:]]


def react_agent(model: BaseChatModel, slot: EnvSlot, max_model_calls: int, max_rewrites: int = 5,
                checkpointer: Any = None, history: int = 0) -> Any:
    """A ``create_agent`` ReAct agent whose only tool steps ``slot.env``.

    An answer without a structured tool call but with an ``act`` call written as text is turned into a
    tool call (``text_tool_call``), so a model that cannot emit the provider's tool-call format still acts.
    An answer with no action at all is re-asked (``NUDGE``) up to ``max_rewrites`` times in a row, as
    ReCode re-asks invalid expansions; after that the episode ends. ``history`` > 0: the model sees only the
    recent steps (``windowed``); the state keeps the whole conversation.
    """
    from langchain.agents import create_agent
    from langchain.agents.middleware import AgentMiddleware, AgentState, after_model, before_model
    from langchain_core.tools import tool

    @tool
    def act(action: str) -> str:
        """Perform one action in the environment and return what you observe."""
        return slot.step(action)

    @before_model(can_jump_to=["end"])
    def stop_when_done(state: AgentState, runtime: Any) -> dict[str, Any] | None:
        calls = sum(1 for m in state["messages"] if isinstance(m, AIMessage))
        if slot.env.done or calls >= max_model_calls:
            return {"jump_to": "end"}
        return None

    @after_model(can_jump_to=["model"])
    def parse_text_calls(state: AgentState, runtime: Any) -> dict[str, Any] | None:
        messages = state["messages"]
        last = messages[-1]
        if not isinstance(last, AIMessage) or last.tool_calls:
            return None
        action = text_tool_call(text_of(last))
        if action is None:
            if slot.env.done:
                return None
            nudges = 0
            for message in reversed(messages[:-1]):
                if isinstance(message, ToolMessage):
                    break
                nudges += isinstance(message, HumanMessage) and message.content == NUDGE
            return {"messages": [HumanMessage(NUDGE)], "jump_to": "model"} if nudges < max_rewrites else None
        call = {"name": "act", "args": {"action": action}, "id": f"text_call_{len(state['messages'])}"}
        fixed = AIMessage(content=last.content, tool_calls=[call], id=last.id, usage_metadata=last.usage_metadata,
                          response_metadata={**last.response_metadata, "parsed_text_tool_call": True})
        return {"messages": [fixed]}

    class HistoryWindow(AgentMiddleware):  # type: ignore[type-arg]
        """Shows the model only the recent steps (``windowed``)."""

        def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
            return handler(request.override(messages=windowed(request.messages, history)))

        async def awrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
            return await handler(request.override(messages=windowed(request.messages, history)))

    middleware: list[Any] = [stop_when_done, parse_text_calls]
    if history > 0:
        middleware.append(HistoryWindow())
    return create_agent(model, tools=[act], middleware=middleware, name="react", checkpointer=checkpointer)


def acted(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """The ``act`` calls that ran (those with a tool result), in order, as trajectory steps."""
    calls = {c["id"]: c for m in messages if isinstance(m, AIMessage) for c in m.tool_calls if c.get("id")}
    steps = []
    for message in messages:
        if isinstance(message, ToolMessage) and message.tool_call_id in calls:
            action = str(calls[message.tool_call_id]["args"].get("action", ""))
            steps.append({"name": "act", "args": {"action": action}, "output": text_of(message), "node": ""})
    return steps


async def run_react(model: BaseChatModel, slot: EnvSlot, task_id: str, *, max_model_calls: int | None = None,
                    callbacks: Sequence[Any] = (), checkpointer: Any = None, thread_id: str = "",
                    history: int = 0) -> EpisodeResult:
    """One ReAct episode; at most ``max_model_calls`` model calls (default: the task's step limit).

    With a ``checkpointer`` every step is saved under ``thread_id``; an unfinished conversation found there is
    resumed (the environment replays the actions that had run) instead of starting over.
    """
    import asyncio

    env = slot.env
    reset = await asyncio.to_thread(env.reset, task_id)
    slot.trajectory, slot.resumed = [], False
    max_model_calls = max_model_calls or env.step_limit
    system = REACT_SYSTEM.format(actions=env_actions(env, reset.task_type, "act"))
    agent = react_agent(model, slot, max_model_calls, checkpointer=checkpointer, history=history)
    user = f"Task: {reset.instruction}\n\nObservation: {reset.observation}"
    messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(user)]
    config: dict[str, Any] = {"callbacks": list(callbacks), "recursion_limit": 4 * max_model_calls + 10}
    inputs: dict[str, Any] | None = {"messages": messages}
    if checkpointer is not None:
        config["configurable"] = {"thread_id": thread_id or f"react/{task_id}"}
        snapshot = await agent.aget_state(config)
        saved = snapshot.values.get("messages") or []
        if snapshot.next and len(saved) >= 2 and text_of(saved[1]) == user:
            slot.trajectory, slot.resumed = acted(saved), True
            await asyncio.to_thread(env.replay, [s["args"]["action"] for s in slot.trajectory])
            inputs, messages = None, list(saved)
    overflow = ""
    try:
        async for state in agent.astream(inputs, config, stream_mode="values"):
            messages = state["messages"]
    except Exception as exc:  # the history grows every step: a long episode can outgrow the context window
        overflow = overflow_reason(exc) or ""
        if not overflow:
            raise
    usage: dict[str, int] = {}
    for message in messages:
        if isinstance(message, AIMessage):
            add_usage(usage, usage_of(message))
    ai = [m for m in messages if isinstance(m, AIMessage)]
    why = overflow or ("model call limit reached" if len(ai) >= max_model_calls
                       else "the model stopped calling act before the task was done")
    status, reason = end_reason(env, why)
    return EpisodeResult(status, reason, env.score, env.won, reset.instruction, reset.task_type, usage,
                         list(slot.trajectory), [message_dict(m) for m in messages], slot.resumed)


# -- CodeAct -------------------------------------------------------------------------------------------
CODEACT_SYSTEM = """\
You are an agent acting in a text environment by writing Python. Each turn, think briefly inside
<think>...</think>, then give a short Python block inside <execute>...</execute>. The block runs at once:
run(action) performs one environment action and returns the observation as a string. Variables persist
between turns. The observations and whatever you print() come back to you in the next message. Use
ordinary Python (loops, conditions, re, json, math); no import, def, class or names starting with an
underscore. Keep acting until the task is done.

Actions:
{actions}
"""

_EXECUTE = re.compile(r"<execute>(.*?)(?:</execute>|$)", re.S)
_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.S)


def code_block(text: str) -> str | None:
    """The code of an ``<execute>`` block (or a fenced python block), None when there is none."""
    for pattern in (_EXECUTE, _FENCE):
        found = pattern.search(text)
        if found and found.group(1).strip():
            code = found.group(1)
            fenced = _FENCE.search(code)
            import textwrap

            return textwrap.dedent(fenced.group(1) if fenced else code).strip("\n")
    return None


def _clip(text: str, limit: int = OBSERVATION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 40] + f"\n... [{len(text) - limit + 40} chars cut]"


def _run_function(env: Environment, trajectory: list[dict[str, Any]], seen: list[str], turn: str
                  ) -> Callable[[str], str]:
    """``run(action)`` for one CodeAct block: steps the environment, records the step, stops when done."""

    def run(action: str) -> str:
        if not isinstance(action, str):
            raise TypeError(f"run() takes the action text as a string, got {type(action).__name__}")
        observation = env.step(action)
        trajectory.append({"name": "run", "args": {"action": action}, "output": observation, "node": turn})
        seen.append(f"run({action!r}) -> {observation}")
        if env.done:
            raise EpisodeStop("environment finished")
        return observation

    return run


def run_codeact(model: BaseChatModel, env: Environment, task_id: str, *, max_model_calls: int | None = None,
                limits: Limits | None = None, callbacks: Sequence[Any] = (), executor: Any = "workers"
                ) -> EpisodeResult:
    """One CodeAct-style episode (blocking); at most ``max_model_calls`` turns (default: the step limit).
    Code runs where ReCode's statements run (``executor``: the worker pool by default, see
    ``recode_graph.sandbox.workers``)."""
    from recode_graph.sandbox.workers import check_executor, default_pool

    check_executor(executor)
    session = f"codeact-{uuid4().hex}"
    reset = env.reset(task_id)
    max_model_calls = max_model_calls or env.step_limit
    system = CODEACT_SYSTEM.format(actions=env_actions(env, reset.task_type, "run"))
    messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(
        f"Task: {reset.instruction}\n\nObservation: {reset.observation}")]
    variables: dict[str, Any] = {"instruction": reset.instruction, "observation": reset.observation}
    objects: dict[str, Any] = {}
    trajectory: list[dict[str, Any]] = []
    usage: dict[str, int] = {}
    limits = limits or Limits()
    turn = 0
    why = "model call limit reached"
    while not env.done and turn < max_model_calls:
        turn += 1
        try:
            reply = model.invoke(messages, config={"callbacks": list(callbacks)})
        except Exception as exc:
            why = overflow_reason(exc) or ""
            if not why:
                raise
            break
        add_usage(usage, usage_of(reply))
        messages.append(AIMessage(content=text_of(reply)))
        code = code_block(text_of(reply))
        if code is None:
            messages.append(HumanMessage("Your answer had no <execute> block. Write the next step as Python "
                                         "inside <execute>...</execute>."))
            continue
        seen: list[str] = []
        functions: dict[str, Callable[..., Any]] = {"run": _run_function(env, trajectory, seen, str(turn))}
        if mode_of(env) != "off":
            functions["valid_actions"] = env.valid_actions
        if executor == "inprocess":
            result = run_code(code, variables, functions, limits, objects=objects)
            objects = result.objects
        else:
            pool = default_pool() if executor == "workers" else executor
            result = pool.run(code, variables, functions, limits, session)
        variables = result.variables or variables
        parts = seen + ([f"printed:\n{result.stdout.rstrip()}"] if result.stdout.strip() else [])
        if not result.ok:
            parts.append(f"error:\n{result.error}")
        messages.append(HumanMessage("Observation:\n" + _clip("\n".join(parts) or "(no output)")))
    status, reason = end_reason(env, why)
    return EpisodeResult(status, reason, env.score, env.won, reset.instruction, reset.task_type, usage,
                         trajectory, [message_dict(m) for m in messages])
