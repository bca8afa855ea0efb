"""The ReAct baseline: langchain's ``create_agent`` with one tool, ``act(action)``, that steps the environment; the
loop ends when the environment is done, the model stops calling the tool, or the model-call limit. The model sees a
demonstration of a solved task of the same type (``demos``) and, with ``history``, only its recent steps."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from recode_graph.bench.baselines import (
    EpisodeResult,
    add_usage,
    end_reason,
    env_actions,
    message_dict,
    overflow_reason,
    text_of,
)
from recode_graph.bench.demos import demo_for
from recode_graph.models.usage import usage_of
from recode_graph.tools.base import Environment
from recode_graph.tools.grounding import step_noting_refusal

STOP = ["\nObservation:", "\n\n\n", "```\n```"]  # an answer ends before it imagines what the environment
# says, idles, or opens a second fenced call
DEMO_INTRO = "\nA solved task of the same kind (another task; each Action was one act call):\n"
REACT_SYSTEM = """\
You are an agent acting in a text environment. Call the tool act(action) with exactly one action at a
time; it returns the observation. Before each action, think briefly about what to do next. Keep acting
until the task is done. The actions below are not tools: pass them as the action argument, e.g.
act(action="<one action, written as in the list>").

Actions:
{actions}
"""
REACT_TEXT_SYSTEM = """\
You are an agent acting in a text environment. Each turn, think briefly about what to do next, then write
exactly one action on its own line as "Action: <action>", written as in the list below (an Action line is
the act(action) call the list speaks of). The next message is the observation. Keep acting until the task is
done.

Actions:
{actions}
"""


NOTE_MARK = "\n[Note] "  # starts the repeat note after an observation (the trajectory keeps the observation only)
NOTE_WINDOW = 6  # recent steps the repeat note looks back over


def repeat_note(env: Any, trajectory: list[dict[str, Any]], action: str, observation: str, refused: bool) -> str:
    """What ReAct is told after an action that changed nothing: the environment refused it, or one of the last
    ``NOTE_WINDOW`` steps sent the same action and saw the same observation. Says how often it was sent, where
    the agent stands (``env.situation()``, as ReCode's re-plan note does) and to choose another action; "" when
    the action did something new. The fair counterpart of ReCode's re-plan note: a 1.5B ReAct otherwise sends
    an action that does nothing until the step limit (98% of its ALFWorld actions in the issue-24 records)."""
    key = " ".join(action.split()).lower()
    recent = [s for s in trajectory[-NOTE_WINDOW:] if " ".join(str(s["args"]["action"]).split()).lower() == key]
    if not refused and not any(s["output"] == observation for s in recent):
        return ""
    text = "that action changed nothing" if refused else "that action gave the same observation as before"
    if recent:
        text += f"; you sent it {len(recent) + 1} times in your last {NOTE_WINDOW + 1} steps"
    situation = str(env.situation()) if hasattr(env, "situation") else ""
    return (f"{NOTE_MARK}{text[0].upper()}{text[1:]}.{' ' + situation if situation else ''} Do not send it again "
            "as it is: choose a different action from the list.")


class EnvSlot:
    """The adapter a worker's agent acts on (the act tool reads it at call time); with ``note``, an action that
    changed nothing is answered with ``repeat_note`` after its observation."""

    def __init__(self, env: Environment, note: bool = False) -> None:
        self.env, self.note = env, note
        self.trajectory: list[dict[str, Any]] = []
        self.resumed = False  # the current episode continues a checkpointed conversation

    def step(self, action: str) -> str:
        observation, refused = step_noting_refusal(self.env, action)
        note = repeat_note(self.env, self.trajectory, action, observation, refused) if self.note else ""
        step = {"name": "act", "args": {"action": action}, "output": observation, "node": ""}
        self.trajectory.append({**step, "note": note.removeprefix(NOTE_MARK)} if note else step)
        return observation + note


_CALL = re.compile(r"\bact\(\s*(?:action\s*=\s*)?([\"'])(.+?)\1\s*\)", re.S)
_ACTION_LINE = re.compile(r"^\s*Action:\s*(.+?)\s*$", re.M)
NUDGE = ('Your reply did not call the act tool, so nothing happened. Reply with one tool call: '
         'act(action="<one action, written as in the action list>").')
TEXT_NUDGE = ('Your reply had no action, so nothing happened. Reply with a short thought and one line '
              '"Action: <one action, written as in the action list>".')


def _json_call(text: str) -> tuple[str, int] | None:
    """The action of the first JSON object with a ``name`` in ``text`` (``{"name": "act", "arguments":
    {"action": ...}}``; a model that names the action itself, ``{"name": "go to", "arguments":
    {"receptacle": "desk 1"}}``, gives ``go to desk 1``) and where the object starts."""
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
        else:
            words = [value["name"], *(str(v) for v in args.values() if isinstance(v, str | int | float))]
            action = " ".join(w.strip() for w in words if str(w).strip())
        action = str(action).strip()
        return (action, start) if action else None
    return None


_OPENER = re.compile(r"(?:```[\w-]*\s*|<tool_call>\s*|\{\s*|Action:\s*)+$")  # what opens a call written as text


def split_text_call(text: str) -> tuple[str, str] | None:
    """``(thought, action)`` of the first ``act`` call written as text (small local models often do): a JSON
    call object (in ``<tool_call>`` tags, a code fence or bare), ``act("...")`` or an ``Action: ...`` line;
    the thought is what comes before the call. None when there is no call."""
    found = _json_call(text)
    if found:
        return _OPENER.sub("", text[: found[1]]).strip(), found[0]
    for pattern, group in ((_CALL, 2), (_ACTION_LINE, 1)):
        match = pattern.search(text)
        if match and match.group(group).strip():
            return _OPENER.sub("", text[: match.start()]).strip(), match.group(group).strip()
    return None


def as_transcript(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The conversation as ReAct's text transcript: each ``act`` call an ``Action:`` line after its thought,
    each result an ``Observation:`` message; no tool-call structure is left for the model to imitate."""
    out: list[BaseMessage] = []
    for message in messages:
        if isinstance(message, AIMessage) and message.tool_calls:
            action = str(message.tool_calls[0]["args"].get("action", ""))
            out.append(AIMessage("\n".join(filter(None, (text_of(message).strip(), f"Action: {action}")))))
        elif isinstance(message, ToolMessage):
            out.append(HumanMessage(f"Observation: {text_of(message)}"))
        else:
            out.append(message)
    return out


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
                checkpointer: Any = None, history: int = 0, text_actions: bool = False) -> Any:
    """A ``create_agent`` ReAct agent whose only tool steps ``slot.env``.

    An answer without a structured tool call but with an ``act`` call written as text is turned into a
    tool call (``split_text_call``), so a model that cannot emit the provider's tool-call format still acts;
    each answer keeps one call, the one that ran (``one_call_per_answer``). An answer with no action at all is
    re-asked (``NUDGE``) up to ``max_rewrites`` times in a row, as ReCode re-asks invalid expansions; after that
    the episode ends. ``history`` > 0: the model sees only the recent steps (``windowed``); the state keeps the
    whole conversation. ``text_actions``: the model reads and writes ReAct's text transcript instead of tool
    calls (``as_transcript``; for models whose tool-call format is unreliable, such as small local ones); the
    state still holds structured ``act`` calls.
    """
    from langchain.agents import create_agent
    from langchain.agents.middleware import AgentMiddleware, AgentState, after_model, before_model
    from langchain_core.tools import tool

    nudge = TEXT_NUDGE if text_actions else NUDGE

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
    def one_call_per_answer(state: AgentState, runtime: Any) -> dict[str, Any] | None:
        """Keep what ran in the transcript: one ``act`` call per answer, as a structured tool call.

        A call written as text becomes a tool call and the answer's text its thought only: the extra calls a
        small model writes after the first (repeating itself, more each turn, until the token cap) never ran,
        and left in the conversation they teach the model to write more of them. Likewise only the first of
        several structured calls runs. An answer with no action at all is re-asked (``NUDGE``)."""
        messages = state["messages"]
        last = messages[-1]
        if not isinstance(last, AIMessage):
            return None
        meta = dict(last.response_metadata)
        if last.tool_calls:
            if len(last.tool_calls) == 1:
                return None
            thought, call = text_of(last).strip(), last.tool_calls[0]
            meta["dropped_tool_calls"] = len(last.tool_calls) - 1
        else:
            found = split_text_call(text_of(last))
            if found is None:
                if slot.env.done:
                    return None
                nudges = 0
                for message in reversed(messages[:-1]):
                    if isinstance(message, ToolMessage):
                        break
                    nudges += isinstance(message, HumanMessage) and message.content == nudge
                return {"messages": [HumanMessage(nudge)], "jump_to": "model"} if nudges < max_rewrites else None
            thought, action = found
            call = {"name": "act", "args": {"action": action}, "id": f"text_call_{len(messages)}"}
            meta.update(parsed_text_tool_call=True, answer_text=text_of(last))
        fixed = AIMessage(content=thought, tool_calls=[call], id=last.id, usage_metadata=last.usage_metadata,
                          response_metadata=meta)
        return {"messages": [fixed]}

    class Transcript(AgentMiddleware):  # type: ignore[type-arg]
        """Stops an answer where it starts to imagine the next observation (ReAct's usual stop sequence); with
        ``history``, shows the model only the recent steps (``windowed``); with ``text_actions``, shows the
        conversation as ReAct's text transcript (``as_transcript``) and offers no tool schema, so the model
        answers ``Action: ...`` as in its demonstration."""

        def _request(self, request: Any) -> Any:
            messages = windowed(request.messages, history) if history > 0 else request.messages
            settings = {**request.model_settings, "stop": STOP}
            if text_actions:
                return request.override(messages=as_transcript(messages), tools=[], model_settings=settings)
            return request.override(messages=messages, model_settings=settings)

        def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
            return handler(self._request(request))

        async def awrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
            return await handler(self._request(request))

    middleware: list[Any] = [stop_when_done, one_call_per_answer, Transcript()]
    return create_agent(model, tools=[act], middleware=middleware, name="react", checkpointer=checkpointer)


def acted(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """The ``act`` calls that ran (those with a tool result), in order, as trajectory steps."""
    calls = {c["id"]: c for m in messages if isinstance(m, AIMessage) for c in m.tool_calls if c.get("id")}
    steps = []
    for message in messages:
        if isinstance(message, ToolMessage) and message.tool_call_id in calls:
            action = str(calls[message.tool_call_id]["args"].get("action", ""))
            output, _, note = text_of(message).partition(NOTE_MARK)
            step = {"name": "act", "args": {"action": action}, "output": output, "node": ""}
            steps.append({**step, "note": note} if note else step)
    return steps


async def run_react(model: BaseChatModel, slot: EnvSlot, task_id: str, *, max_model_calls: int | None = None,
                    callbacks: Sequence[Any] = (), checkpointer: Any = None, thread_id: str = "",
                    history: int = 0, text_actions: bool = False) -> EpisodeResult:
    """One ReAct episode; at most ``max_model_calls`` model calls (default: the task's step limit).

    With a ``checkpointer`` every step is saved under ``thread_id``; an unfinished conversation found there is
    resumed (the environment replays the actions that had run) instead of starting over.
    """
    import asyncio

    env = slot.env
    reset = await asyncio.to_thread(env.reset, task_id)
    slot.trajectory, slot.resumed = [], False
    max_model_calls = max_model_calls or env.step_limit
    system = (REACT_TEXT_SYSTEM if text_actions else REACT_SYSTEM).format(
        actions=env_actions(env, reset.task_type, "act"))
    demo = demo_for(env.name, reset.task_type)
    if demo:
        system += DEMO_INTRO + demo.strip() + "\n"
    agent = react_agent(model, slot, max_model_calls, checkpointer=checkpointer, history=history,
                        text_actions=text_actions)
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
