"""Primitive functions of one execute step: LangChain tools, ``run(action)`` and ``final_answer``.

Every call with side effects is a LangGraph ``@task``: when a node is re-run after an interrupt, finished
calls return their recorded results instead of running again. The environment task first brings the
adapter in line with the recorded trajectory (reset + replay) so a thread resumed in a fresh process, or
moved to another adapter, continues from the same world state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.tools import BaseTool
from langgraph.errors import GraphBubbleUp
from langgraph.func import task

from recode_graph import approval
from recode_graph.context import Settings
from recode_graph.events import emit
from recode_graph.plain import to_checkpointable
from recode_graph.sandbox import Budget, EpisodeStop
from recode_graph.tools.base import Environment
from recode_graph.tools.langchain_bridge import map_arguments


class ControlFlow(BaseException):
    """Carries LangGraph's interrupt/bubble-up exceptions through user code (which may catch Exception)."""

    def __init__(self, inner: BaseException) -> None:
        super().__init__(str(inner))
        self.inner = inner


class ActionRejected(Exception):
    """A reviewer rejected a primitive call; the message goes to the repair prompt."""


def sync_environment(env: Environment, task_id: str, actions: list[str]) -> None:
    """Make ``env`` be in the state reached by ``actions`` from ``reset(task_id)``."""
    current = getattr(env, "actions", None)
    if getattr(env, "task_id", None) == task_id and current == actions:
        return
    env.reset(task_id)
    if actions:
        env.replay(actions)


def _tool_body(tool: BaseTool, payload: dict[str, Any]) -> Any:
    output = tool.invoke(payload)
    content = getattr(output, "content", output)  # a ToolMessage when the tool returns one
    ok, value = to_checkpointable(content)
    return value if ok else str(content)


@dataclass
class StepRecorder:
    """Calls made by one execute step, in order."""

    node: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    answer: str | None = None
    env_state: dict[str, Any] | None = None  # last environment report: done, won, score

    def add(self, name: str, args: Any, output: Any) -> None:
        self.steps.append({"name": name, "args": args, "output": output, "node": self.node})


@dataclass
class Primitives:
    """Builds the sandbox functions for one statement run."""

    tools: dict[str, BaseTool]
    settings: Settings
    env_pool: Any = None  # EnvPool | None
    thread_key: str = ""
    task_id: str = ""
    prior_actions: list[str] = field(default_factory=list)
    tool_task: Callable[..., Any] = field(init=False)
    env_task: Callable[..., Any] = field(init=False)

    def __post_init__(self) -> None:
        tools, pool, key = self.tools, self.env_pool, self.thread_key

        def tool_call(name: str, payload: dict[str, Any]) -> Any:
            return _tool_body(tools[name], payload)

        def env_step(task_id: str, prior: list[str], action: str) -> dict[str, Any]:
            env = pool.acquire(key)
            sync_environment(env, task_id, prior)
            observation = env.step(action)
            return {"observation": observation, "done": env.done, "won": env.won, "score": env.score}

        self.tool_task = task(name="tool_call")(tool_call)
        self.env_task = task(name="env_step")(env_step)

    def functions(self, recorder: StepRecorder, budget: Budget) -> dict[str, Callable[..., Any]]:
        out: dict[str, Callable[..., Any]] = {}
        for name, tool in self.tools.items():
            out[name] = self._tool_function(name, tool, recorder, budget)
        out["final_answer"] = self._final_answer(recorder)
        if self.env_pool is not None:
            out["run"] = self._run_function(recorder, budget)
        return out

    def _review(self, name: str, args: dict[str, Any], description: str, required: tuple[str, ...]
                ) -> dict[str, Any]:
        if not self.settings.needs_action_review(name):
            return args
        try:
            decision = approval.ask(approval.request(name, args, description), required)
        except GraphBubbleUp as exc:
            raise ControlFlow(exc) from None
        if decision["type"] == "reject":
            message = decision.get("message") or "no reason given"
            raise ActionRejected(f"the reviewer rejected {name}({args}): {message}")
        if decision["type"] == "edit":
            return dict(decision["edited_action"]["args"])
        return args

    def _tool_function(self, name: str, tool: BaseTool, recorder: StepRecorder, budget: Budget
                       ) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            payload = map_arguments(tool, args, kwargs)
            with budget.paused():
                payload = self._review(name, payload, tool.description or "", tuple(payload))
                emit("action", node=recorder.node, name=name, args=payload)
                try:
                    output = self.tool_task(name, payload).result()
                except GraphBubbleUp as exc:
                    raise ControlFlow(exc) from None
            recorder.add(name, payload, output)
            emit("observation", node=recorder.node, name=name, output=output)
            return output

        call.__name__ = name
        return call

    def _run_function(self, recorder: StepRecorder, budget: Budget) -> Callable[[str], str]:
        def run(action: str) -> str:
            if not isinstance(action, str):
                raise TypeError(f"run() takes the action text as a string, got {type(action).__name__}")
            with budget.paused():
                args = self._review("run", {"action": action}, "environment action", ("action",))
                action = str(args["action"])
                emit("action", node=recorder.node, name="run", args={"action": action})
                prior = self.prior_actions + [s["args"]["action"] for s in recorder.steps if s["name"] == "run"]
                try:
                    report = self.env_task(self.task_id, prior, action).result()
                except GraphBubbleUp as exc:
                    raise ControlFlow(exc) from None
            observation = str(report["observation"])
            recorder.add("run", {"action": action}, observation)
            recorder.env_state = {k: report[k] for k in ("done", "won", "score")}
            emit("observation", node=recorder.node, name="run", output=observation)
            if report["done"]:
                raise EpisodeStop("environment finished")
            return observation

        return run

    def _final_answer(self, recorder: StepRecorder) -> Callable[[Any], None]:
        def final_answer(text: Any) -> None:
            recorder.answer = str(text)
            recorder.add("final_answer", {"text": str(text)}, None)
            raise EpisodeStop("final answer")

        return final_answer
