"""Primitive functions of one execute step: LangChain tools, ``run(action)`` and ``final_answer``.

Every tool call and environment step is a LangGraph ``@task`` (``recode_graph.engine.tasks``): when a node is
re-run after an interrupt, finished calls return their recorded results instead of running again, each only to
the same call (bound to its content digest). Calls of tools marked with ``side_effects`` go through the effect
log instead (at most once). The environment task first brings the
adapter in line with the recorded trajectory (reset + replay) so a thread resumed in a fresh process, or
moved to another adapter, continues from the same world state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from langchain_core.tools import BaseTool, ToolException
from langgraph.config import get_config
from langgraph.errors import GraphBubbleUp

from recode_graph.approvals import hitl
from recode_graph.approvals.binding import bind, ledger
from recode_graph.approvals.effects import (
    EffectLogs,
    args_digest,
    call_once,
    has_side_effects,
    idempotency_key,
    position_key,
)
from recode_graph.approvals.policy import Review
from recode_graph.compat import load as private
from recode_graph.context import Settings
from recode_graph.engine.asking import AskFirst, announce_first
from recode_graph.engine.events import emit
from recode_graph.engine.hooks import MiddlewareEnd
from recode_graph.engine.recorder import (
    ActionRejected,
    ControlFlow,
    RunFailed,
    StepRecorder,
)
from recode_graph.engine.tasks import Step, run_env_step, run_tool, sync_environment, tool_config
from recode_graph.engine.toolcall import (
    ToolCommandError,
    ToolContext,
    ToolSpec,
    analyse,
    call_id,
    call_tool,
    merge_updates,
    tool_runtime,
)
from recode_graph.sandbox import Budget, EpisodeStop
from recode_graph.sandbox.plain import restore, storable, stored_args
from recode_graph.tools.grounding import check_refusal, mode_of
from recode_graph.tools.langchain_bridge import map_arguments


@dataclass
class Primitives:
    """Builds the sandbox functions for one statement run."""

    tools: dict[str, BaseTool]
    settings: Settings
    env_pool: Any = None  # EnvPool | None
    thread_key: str = ""
    task_id: str = ""
    prior_actions: list[str] = field(default_factory=list)
    state: Any = None  # the graph state and runtime, for description callables of approval configs
    runtime: Any = None
    tool_context: ToolContext | None = None  # state, runtime, middleware for tool calls
    specs: dict[str, ToolSpec] | None = None  # per tool: visible and injected arguments
    episode: int = 0  # tells episodes of one thread apart in tool-call ids
    effects: EffectLogs | None = None  # logs of tools marked with side_effects()
    response_format: Any = None  # recode_graph.engine.structured.ResponseFormat: the shape final_answer must give
    tool_task: Callable[..., Any] = field(init=False)
    env_task: Callable[..., Any] = field(init=False)
    _marked: dict[str, int] = field(init=False, default_factory=dict)  # marked calls of the statement, by content

    def __post_init__(self) -> None:
        pool, key = self.env_pool, self.thread_key
        if self.specs is None:
            self.specs = {name: analyse(tool) for name, tool in self.tools.items()}
        if self.tool_context is None:
            self.tool_context = ToolContext(state={}, tools=list(self.tools.values()))
        step = Step(self.specs, self.tool_context, pool, key)
        self.tool_task = partial(run_tool, step)
        self.env_task = partial(run_env_step, step)

    def functions(self, recorder: StepRecorder, budget: Budget) -> dict[str, Callable[..., Any]]:
        out: dict[str, Callable[..., Any]] = {}
        for name, tool in self.tools.items():
            out[name] = self._tool_function(name, tool, recorder, budget)
        out["final_answer"] = self._final_answer(recorder)
        if self.env_pool is not None:
            mode = mode_of(self.env_pool.acquire(self.thread_key))
            out["run"] = self._run_function(recorder, budget, mode)
            if mode != "off":
                out["valid_actions"] = self._valid_actions_function(recorder, budget)
        return out

    def _wants_review(self, review: Review, call: dict[str, Any], recorder: StepRecorder) -> bool:
        """The config's ``when`` predicate, given the ``ToolCallRequest`` as the HITL middleware gives it."""
        from langchain.agents.middleware.types import ToolCallRequest

        tool = self.tools.get(call["name"])
        runtime = tool_runtime(self.tool_context, call["id"], get_config()) if self.tool_context else None
        request = ToolCallRequest(tool_call={**call, "type": "tool_call"}, tool=tool,  # type: ignore[arg-type]
                                  state=self.state, runtime=runtime)  # type: ignore[arg-type]
        try:
            return bool(review.when(request))  # type: ignore[misc]
        except Exception as exc:  # the developer's predicate is broken: the run stops, the code is not blamed
            problem = ToolCommandError(f"the 'when' predicate of the approval of {call['name']!r} raised "
                                       f"{type(exc).__name__}: {exc}")
            raise recorder.stop(ControlFlow(problem)) from None

    def _review(self, name: str, args: dict[str, Any], recorder: StepRecorder, check: hitl.ArgsCheck
                ) -> tuple[str, Any]:
        """("run", args to run with) or ("respond", the reviewer's result); a rejection ends the statement."""
        review: Review | None = self.settings.approval.for_action(name)
        if review is None:
            return "run", args
        call = {"name": name, "args": args, "id": f"{recorder.node}:{recorder.calls}"}
        if review.when is not None and not self._wants_review(review, call, recorder):
            return "run", args
        shown = stored_args(args)  # the request is checkpointed: its arguments in checkpoint form
        payload = hitl.request(name, shown, review.describe(name, args, call, self.state, self.runtime),
                               review.allowed)
        if announce_first(self.state, self.settings.chat_history, recorder.node, recorder.calls, name, shown):
            raise recorder.stop(AskFirst(name, shown))  # shown in messages first (recode_graph.engine.asking)
        try:
            decision = hitl.ask(payload, check, self.settings.approval.schema,
                                bind(self._ledger(), "review", name, shown), call_id=call["id"])
        except GraphBubbleUp as exc:
            raise recorder.stop(ControlFlow(exc)) from None
        if decision["type"] == "reject":
            message = decision.get("message") or "no reason given"
            raise recorder.stop(ActionRejected(f"the reviewer rejected {name}({args}): {message}"))
        if decision["type"] == "respond":
            return "respond", decision["message"]
        if decision["type"] == "edit":
            return "run", {k: restore(v) for k, v in decision["edited_action"]["args"].items()}
        return "run", args

    def _ledger(self) -> Any:
        """Where approval requests are recorded (``recode_graph.approvals.binding``)."""
        return ledger(self.effects or EffectLogs(), getattr(self.runtime, "store", None))

    def _once(self, name: str, payload: dict[str, Any], ident: str, recorder: StepRecorder
              ) -> tuple[dict[str, Any], str]:
        """A call of a tool marked with ``side_effects``: at most once per distinct call, through the effect log
        (not a task: LangGraph may lose a task's result in a crash, see ``recode_graph.approvals.effects``).
        Returns the call's record (as ``call_tool`` makes it) and its idempotency key."""
        conf = get_config().get("configurable") or {}
        thread = str(conf.get("thread_id") or "")
        step = str(conf.get("checkpoint_ns") or "")
        shown = stored_args(payload)
        digest = args_digest(shown)
        content = f"{name}/{digest}"
        occurrence = self._marked.get(content, 0)
        self._marked[content] = occurrence + 1
        index = sum(self._marked.values()) - 1
        key = idempotency_key(thread, recorder.node, name, digest, occurrence, step)
        position = position_key(thread, recorder.node, index, step)
        logs = self.effects or EffectLogs()
        try:
            log = logs.for_run(conf.get(private("CONFIG_KEY_CHECKPOINTER")), getattr(self.runtime, "store", None))
        except RuntimeError as exc:  # no durable log for this saver: a run error, not the model's to repair
            raise recorder.stop(ControlFlow(exc)) from None
        spec = self.specs[name]  # type: ignore[index]
        sent = {**payload, spec.key_arg: key} if spec.key_arg else payload
        ctx = self.tool_context
        assert ctx is not None

        def ask(request: dict[str, Any]) -> dict[str, Any]:
            try:
                return hitl.ask(request, schema=self.settings.approval.schema,
                                bound=bind(log, "side_effect", name, shown))
            except GraphBubbleUp as exc:
                raise recorder.stop(ControlFlow(exc)) from None

        try:
            how, value = call_once(log, thread, key, name, payload,
                                   lambda: call_tool(spec, sent, ident, ctx, tool_config(recorder.node)), ask,
                                   position)
        except (GraphBubbleUp, ToolCommandError) as exc:
            raise recorder.stop(ControlFlow(exc)) from None
        if how == "fail":
            raise recorder.stop(RunFailed(value))
        return value, key

    def _tool_function(self, name: str, tool: BaseTool, recorder: StepRecorder, budget: Budget
                       ) -> Callable[..., Any]:
        check = hitl.schema_check(tool)
        spec = self.specs[name]  # type: ignore[index]
        once = has_side_effects(tool)

        def call(*args: Any, **kwargs: Any) -> Any:
            recorder.check_open()
            payload = map_arguments(tool, args, kwargs, spec.visible)
            with budget.paused():
                how, value = self._review(name, payload, recorder, check)
                recorder.calls += 1
                if how == "respond":
                    recorder.add(name, payload, value, responded=True)
                    emit("observation", node=recorder.node, name=name, output=value)
                    return value
                payload = value
                recorder.room(name, payload)
                emit("action", node=recorder.node, name=name, args=payload)
                ident = call_id(self.thread_key, self.episode, recorder.node, recorder.calls)
                self._gate(recorder, name, payload, ident)
                extra: dict[str, Any] = {}
                if once:
                    record, extra["idempotency_key"] = self._once(name, payload, ident, recorder)
                else:
                    try:
                        record = self.tool_task(name, payload, ident, recorder.node)
                    except GraphBubbleUp as exc:
                        raise recorder.stop(ControlFlow(exc)) from None
                    except ToolCommandError as exc:  # the tool's author must fix it, not the model
                        raise recorder.stop(ControlFlow(exc)) from None
            output = record["output"]
            extra.update({k: record[k] for k in ("artifact", "status") if k in record})
            recorder.add(name, record.get("args", payload), output, **extra)
            if record.get("update"):
                self._apply(recorder, record["update"])
            emit("observation", node=recorder.node, name=name, output=output)
            if record.get("status") == "error":
                raise ToolException(str(output))
            return restore(output)  # the record holds the checkpoint form; the code gets the value

        call.__name__ = name
        return call

    def _gate(self, recorder: StepRecorder, name: str, payload: dict[str, Any], ident: str) -> None:
        """Tool-call limiting middleware (``recode_graph.engine.hooks.Hooks.tool_gate``) before the call runs."""
        ctx = self.tool_context
        if ctx is None or ctx.gate is None:
            return
        try:
            update, blocked = ctx.gate({"name": name, "args": payload, "id": ident, "type": "tool_call"}, ctx.state)
        except MiddlewareEnd as end:
            recorder.end_reason = str(end)
            raise recorder.stop(EpisodeStop(str(end))) from None
        except Exception as exc:  # e.g. ToolCallLimitExceededError: ends the run, as in create_agent
            raise recorder.stop(ControlFlow(exc)) from None
        if update:
            self._apply(recorder, update)
        if blocked is not None:
            recorder.add(name, payload, blocked, status="blocked")
            raise ToolException(blocked)

    def _apply(self, recorder: StepRecorder, update: dict[str, Any]) -> None:
        """A tool's Command update: kept for the step's result and seen by the step's later tool calls."""
        recorder.update = merge_updates(recorder.update, update)
        ctx = self.tool_context
        assert ctx is not None
        state = dict(ctx.state)
        for key, value in update.items():
            state[key] = list(state.get(key) or []) + list(value) if key == "messages" else value
        ctx.state = state

    def _run_function(self, recorder: StepRecorder, budget: Budget, mode: str) -> Callable[[str], str]:
        check = hitl.required_args("action")

        def run(action: str) -> str:
            recorder.check_open()
            if not isinstance(action, str):
                raise TypeError(f"run() takes the action text as a string, got {type(action).__name__}")
            with budget.paused():
                _, args = self._review("run", {"action": action}, recorder, check)  # respond is not offered
                recorder.calls += 1
                action = str(args["action"])
                recorder.room("run", {"action": action})
                emit("action", node=recorder.node, name="run", args={"action": action})
                prior = self.prior_actions + [s["args"]["action"] for s in recorder.steps if s["name"] == "run"]
                try:
                    report = self.env_task(self.task_id, prior, action)
                except GraphBubbleUp as exc:
                    raise recorder.stop(ControlFlow(exc)) from None
            observation = str(report["observation"])
            recorder.add("run", {"action": action}, observation)
            recorder.env_state = {k: report[k] for k in ("done", "won", "score")}
            emit("observation", node=recorder.node, name="run", output=observation)
            if report["done"]:
                raise recorder.stop(EpisodeStop("environment finished"))
            check_refusal(mode, bool(report.get("refused")), action, observation)  # older records lack it
            return observation

        return run

    def _valid_actions_function(self, recorder: StepRecorder, budget: Budget) -> Callable[[], list[str]]:
        """``valid_actions()``: the environment's valid actions now (read-only, not a trajectory step)."""

        def valid_actions() -> list[str]:
            with budget.paused():
                env = self.env_pool.acquire(self.thread_key)
                prior = self.prior_actions + [s["args"]["action"] for s in recorder.steps if s["name"] == "run"]
                sync_environment(env, self.task_id, prior)
                return list(env.valid_actions())

        return valid_actions

    def _final_answer(self, recorder: StepRecorder) -> Callable[[Any], None]:
        def final_answer(text: Any) -> None:
            recorder.check_open()  # the first final answer stands; nothing can replace it
            if self.response_format is not None:  # a wrong shape fails the statement: the model repairs it
                valid = self.response_format.validate(text)
                text = json.dumps(valid, ensure_ascii=False, default=str)
                recorder.structured = stored_args(valid)  # checkpoint form (a field may hold an int > 64 bits)
            recorder.answer = storable(str(text))  # the state's answer: a plain string every checkpointer holds
            recorder.add("final_answer", {"text": recorder.answer}, None)
            raise recorder.stop(EpisodeStop("final answer"))

        return final_answer
