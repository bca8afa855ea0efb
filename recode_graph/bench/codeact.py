"""The CodeAct-style baseline: one conversation; each turn the model writes a Python block that may call
``run(action)``; it runs at once in the same sandbox ReCode uses (``recode_graph.sandbox.run_code``) with one
namespace kept across turns; the observations and printed output come back as the next user message. No
placeholders."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any
from uuid import uuid4

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from recode_graph.bench.baselines import (
    EpisodeResult,
    add_usage,
    end_reason,
    env_actions,
    message_dict,
    overflow_reason,
    text_of,
)
from recode_graph.models.usage import usage_of
from recode_graph.sandbox import EpisodeStop, Limits, run_code
from recode_graph.tools.base import Environment
from recode_graph.tools.grounding import check_refusal, mode_of, step_noting_refusal

OBSERVATION_LIMIT = 4000  # characters of a turn's observations shown back to the model
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

    mode = mode_of(env)

    def run(action: str) -> str:
        if not isinstance(action, str):
            raise TypeError(f"run() takes the action text as a string, got {type(action).__name__}")
        observation, refused = step_noting_refusal(env, action)
        trajectory.append({"name": "run", "args": {"action": action}, "output": observation, "node": turn})
        seen.append(f"run({action!r}) -> {observation}")
        if env.done:
            raise EpisodeStop("environment finished")
        check_refusal(mode, refused, action, observation)
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
    if executor != "inprocess":  # the episode's worker serves no other run
        (default_pool() if executor == "workers" else executor).end_run(session)
    status, reason = end_reason(env, why)
    return EpisodeResult(status, reason, env.score, env.won, reset.instruction, reset.task_type, usage,
                         trajectory, [message_dict(m) for m in messages])
