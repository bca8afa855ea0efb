"""LangChain v1 ``AgentMiddleware`` around the ReCode loop.

Where each hook runs:

- ``before_agent`` / ``after_agent``: when an episode starts (``start`` node) and ends (``finish`` node);
- ``before_model`` / ``after_model`` and the ``wrap_model_call`` chain: around every expansion call
  (``expand`` node); the request holds the expansion prompt (system message + one human message), no tools
  (primitives are listed in the prompt), the agent state as ``state`` and the node's runtime;
- the ``wrap_tool_call`` chain: around every primitive tool call made by generated code (``toolcall``);
- ``ToolCallLimitMiddleware`` counts from the ``tool_calls`` of an ``AIMessage`` in ``after_model``: each
  primitive tool call is shown to it as a one-call ``AIMessage`` before it runs (``tool_gate``).

Hook updates may set the middleware's own state keys (their ``state_schema``) and ``messages``;
``jump_to="end"`` ends the episode (failed, the hook's last message as the reason). The sync hooks run
under ``invoke``, the async ones under ``ainvoke`` (a hook defined only on the other side is run through it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage

from recode_graph.engine.toolcall import _run_coroutine

try:
    from langchain.agents.middleware.types import (
        AgentMiddleware,
        ExtendedModelResponse,
        ModelRequest,
        ModelResponse,
    )
except ImportError:  # pragma: no cover - langchain is a dependency
    AgentMiddleware = None  # type: ignore[assignment,misc]


class MiddlewareEnd(Exception):
    """A hook asked to end the episode (``jump_to="end"``); the message is the reason."""


def check_middleware(middleware: Any) -> list[Any]:
    if middleware is None:
        return []
    if isinstance(middleware, (str, bytes, dict)) or not isinstance(middleware, Sequence):
        raise TypeError(f"middleware must be a list of AgentMiddleware instances, got {type(middleware).__name__}")
    items = list(middleware)
    for item in items:
        if AgentMiddleware is None or not isinstance(item, AgentMiddleware):
            raise TypeError(f"middleware must be AgentMiddleware instances, got {type(item).__name__} in middleware")
    # HumanInTheLoopMiddleware reviews the tool_calls of a model message, which this agent does not make: the
    # agent takes its settings into approve= instead (hitl_middleware) and keeps it out of the hooks
    review = {id(m) for m in hitl_middleware(items)}
    items = [item for item in items if id(item) not in review]
    names = [m.name for m in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"middleware names must be unique, got {', '.join(dupes)} more than once")
    return items


def hitl_middleware(middleware: Any) -> list[Any]:
    """The ``HumanInTheLoopMiddleware`` instances among ``middleware`` (their settings become ``approve=``)."""
    try:
        from langchain.agents.middleware import HumanInTheLoopMiddleware
    except ImportError:  # pragma: no cover
        return []
    if middleware is None or isinstance(middleware, (str, bytes, dict)) or not isinstance(middleware, Sequence):
        return []
    return [m for m in middleware if isinstance(m, HumanInTheLoopMiddleware)]


def _overrides(m: Any, name: str) -> bool:
    return getattr(type(m), name) is not getattr(AgentMiddleware, name)


def _is_tool_limit(m: Any) -> bool:
    try:
        from langchain.agents.middleware import ToolCallLimitMiddleware
    except ImportError:  # pragma: no cover
        return False
    return isinstance(m, ToolCallLimitMiddleware)


@dataclass
class Hooks:
    """The agent's middleware, sorted by hook."""

    middleware: list[Any] = field(default_factory=list)

    @property
    def gates(self) -> bool:
        return any(_is_tool_limit(m) for m in self.middleware)

    def having(self, name: str) -> list[Any]:
        return [m for m in self.middleware if _overrides(m, name) or _overrides(m, "a" + name)]

    @property
    def settable(self) -> frozenset[str]:
        """Keys the middleware's state schemas add (their hooks may update them)."""
        from recode_graph.schema import user_keys

        return user_keys(None, [m.state_schema for m in self.middleware])

    # -- node hooks ---------------------------------------------------------------------------------------

    def run_node_hooks(self, name: str, state: dict[str, Any], runtime: Any, settable: frozenset[str],
                       extra_messages: Sequence[BaseMessage] = ()) -> dict[str, Any]:
        """Run ``name`` (before_agent, before_model, after_model, after_agent) of every middleware in order
        (sync side); the merged update. Raises ``MiddlewareEnd`` on ``jump_to="end"``."""
        update: dict[str, Any] = {}
        for m in self.having(name):
            if name == "after_model" and _is_tool_limit(m):
                continue  # it counts tool calls of AIMessages: see tool_gate
            view = _view(state, update, extra_messages)
            if _overrides(m, name):
                result = getattr(m, name)(view, runtime)
            else:
                result = _run_coroutine(getattr(m, "a" + name)(view, runtime), None)
            update = _merge(update, _checked(m, result, settable))
        return update

    async def arun_node_hooks(self, name: str, state: dict[str, Any], runtime: Any, settable: frozenset[str],
                              extra_messages: Sequence[BaseMessage] = ()) -> dict[str, Any]:
        update: dict[str, Any] = {}
        for m in self.having(name):
            if name == "after_model" and _is_tool_limit(m):
                continue
            view = _view(state, update, extra_messages)
            if _overrides(m, "a" + name):
                result = await getattr(m, "a" + name)(view, runtime)
            else:
                result = await asyncio.to_thread(getattr(m, name), view, runtime)
            update = _merge(update, _checked(m, result, settable))
        return update

    # -- model call -----------------------------------------------------------------------------------------

    def call_model(self, model: Any, system: SystemMessage, messages: list[BaseMessage], state: dict[str, Any],
                   runtime: Any, metadata: dict[str, Any]) -> tuple[AIMessage, dict[str, Any]]:
        """The expansion call through the ``wrap_model_call`` chain: (answer, state update from commands)."""
        def base(request: Any) -> Any:
            return ModelResponse(result=[_invoke(request, metadata)])

        commands: list[Any] = []
        handler = base
        for m in reversed(self.having("wrap_model_call")):
            handler = _wrap_sync(m.wrap_model_call, handler, commands)
        request = ModelRequest(model=model, messages=list(messages), system_message=system, tools=[],
                               state=state, runtime=runtime)  # type: ignore[arg-type]
        return _answer(handler(request), commands)

    async def acall_model(self, model: Any, system: SystemMessage, messages: list[BaseMessage],
                          state: dict[str, Any], runtime: Any, metadata: dict[str, Any]
                          ) -> tuple[AIMessage, dict[str, Any]]:
        async def base(request: Any) -> Any:
            return ModelResponse(result=[await _ainvoke(request, metadata)])

        commands: list[Any] = []
        handler: Callable[[Any], Awaitable[Any]] = base
        for m in reversed(self.having("wrap_model_call")):
            handler = _wrap_async(m.awrap_model_call, handler, commands)
        request = ModelRequest(model=model, messages=list(messages), system_message=system, tools=[],
                               state=state, runtime=runtime)  # type: ignore[arg-type]
        return _answer(await handler(request), commands)

    # -- tool calls ---------------------------------------------------------------------------------------

    def tool_wrappers(self) -> tuple[Any, Any]:
        """(sync, async) ``wrap_tool_call`` chains for ``recode_graph.engine.toolcall`` (None when no middleware)."""
        chain = self.having("wrap_tool_call")
        if not chain:
            return None, None

        def wrap(request: Any, execute: Callable[[Any], Any]) -> Any:
            handler = execute
            for m in reversed(chain):
                handler = _bind_tool(m.wrap_tool_call, handler)
            return handler(request)

        async def awrap(request: Any, execute: Callable[[Any], Awaitable[Any]]) -> Any:
            handler = execute
            for m in reversed(chain):
                handler = _abind_tool(m.awrap_tool_call, handler)
            return await handler(request)

        return wrap, awrap

    def tool_gate(self, call: dict[str, Any], state: dict[str, Any], runtime: Any, settable: frozenset[str]
                  ) -> tuple[dict[str, Any], str | None]:
        """Tool-call counting middleware on one primitive call: (state update, error message for the code
        when the call is blocked). Raises ``MiddlewareEnd`` when the middleware ends the run."""
        update: dict[str, Any] = {}
        blocked: str | None = None
        for m in self.middleware:
            if not _is_tool_limit(m):
                continue
            view = _view(state, update, [AIMessage(content="", tool_calls=[call])])
            result = m.after_model(view, runtime)
            if not result:
                continue
            if result.get("jump_to") == "end":
                raise MiddlewareEnd(_last_ai_text(result.get("messages") or []) or f"{m.name} ended the run")
            for message in result.get("messages") or []:
                if isinstance(message, ToolMessage) and message.tool_call_id == call["id"]:
                    blocked = message.text if hasattr(message, "text") else str(message.content)
            update = _merge(update, _checked(m, {k: v for k, v in result.items() if k != "messages"}, settable))
        return update, blocked


def _view(state: dict[str, Any], update: dict[str, Any], extra: Sequence[BaseMessage]) -> dict[str, Any]:
    view = {**state, **{k: v for k, v in update.items() if k != "messages"}}
    view["messages"] = [*(state.get("messages") or []), *(update.get("messages") or []), *extra]
    return view


def _checked(m: Any, result: Any, settable: frozenset[str]) -> dict[str, Any]:
    if not result:
        return {}
    if not isinstance(result, dict):
        raise TypeError(f"middleware {m.name} returned {type(result).__name__}, expected a dict of state updates")
    if result.get("jump_to") == "end":
        raise MiddlewareEnd(_last_ai_text(result.get("messages") or []) or f"{m.name} ended the run")
    if result.get("jump_to"):
        raise ValueError(f"middleware {m.name} jumped to {result['jump_to']!r}; the ReCode agent supports only "
                         "jump_to='end' (it has no tool node to jump to, and the model is called per placeholder)")
    out = {k: v for k, v in result.items() if k != "jump_to"}
    unknown = sorted(k for k in out if k != "messages" and k not in settable)
    if unknown:
        raise ValueError(f"middleware {m.name} updated {', '.join(map(repr, unknown))}, which is not in its "
                         "state_schema")
    if "messages" in out and not isinstance(out["messages"], list):
        out["messages"] = [out["messages"]]
    return out


def _merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    out = dict(left)
    for key, value in right.items():
        out[key] = [*(out.get(key) or []), *value] if key == "messages" else value
    return out


def _last_ai_text(messages: Sequence[Any]) -> str:
    for message in reversed(list(messages)):
        if isinstance(message, AIMessage):
            return message.text if hasattr(message, "text") else str(message.content)
    return ""


def _prompt(request: Any) -> list[BaseMessage]:
    return ([request.system_message] if request.system_message is not None else []) + list(request.messages)


def _invoke(request: Any, metadata: dict[str, Any]) -> AIMessage:
    model = request.model.bind(**request.model_settings) if request.model_settings else request.model
    return model.with_config(metadata=metadata).invoke(_prompt(request))


async def _ainvoke(request: Any, metadata: dict[str, Any]) -> AIMessage:
    model = request.model.bind(**request.model_settings) if request.model_settings else request.model
    return await model.with_config(metadata=metadata).ainvoke(_prompt(request))


def _normalize(result: Any, commands: list[Any]) -> Any:
    """A wrap_model_call result as a ModelResponse (commands of ExtendedModelResponse collected)."""
    if isinstance(result, ExtendedModelResponse):
        if result.command is not None:
            commands.append(result.command)
        return result.model_response
    if isinstance(result, AIMessage):
        return ModelResponse(result=[result])
    return result


def _wrap_sync(fn: Callable[..., Any], inner: Callable[[Any], Any], commands: list[Any]) -> Callable[[Any], Any]:
    return lambda request: _normalize(fn(request, inner), commands)


def _wrap_async(fn: Callable[..., Any], inner: Callable[[Any], Awaitable[Any]], commands: list[Any]
                ) -> Callable[[Any], Awaitable[Any]]:
    async def handler(request: Any) -> Any:
        return _normalize(await fn(request, inner), commands)

    return handler


def _answer(response: Any, commands: list[Any]) -> tuple[AIMessage, dict[str, Any]]:
    update: dict[str, Any] = {}
    for command in commands:
        if command.goto or command.graph is not None or command.resume is not None:
            raise NotImplementedError("commands from wrap_model_call may only update state")
        update = _merge(update, dict(command.update or {}))
    messages = [m for m in getattr(response, "result", []) if isinstance(m, AIMessage)]
    if not messages:
        raise ValueError("the wrap_model_call chain returned no AIMessage")
    return messages[-1], update


def _bind_tool(fn: Callable[..., Any], inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda request: fn(request, inner)


def _abind_tool(fn: Callable[..., Any], inner: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    async def handler(request: Any) -> Any:
        return await fn(request, inner)

    return handler


# -- the expand / start / finish nodes' side ---------------------------------------------------------------

def expansion_metadata(state: dict[str, Any], node_id: str, mode: str) -> dict[str, Any]:
    """Run metadata of an expansion call: which placeholder it expands."""
    node = state["tree"][node_id]
    return {"recode_node": node_id, "recode_call": " ".join(str(node.get("code", "")).split()),
            "recode_depth": int(node.get("depth", 0)), "recode_mode": mode}


def model_call(deps: Any, state: dict[str, Any], runtime: Any, messages: list[BaseMessage],
               metadata: dict[str, Any]) -> tuple[AIMessage, dict[str, Any]]:
    """One expansion call with before_model / wrap_model_call / after_model: (answer, state update)."""
    model = deps.model_for(runtime)
    hooks: Hooks = deps.hooks
    if not hooks.middleware:
        return model.with_config(metadata=metadata).invoke(messages), {}
    update = hooks.run_node_hooks("before_model", state, runtime, deps.settable)
    system, rest = _split(messages)
    response, extra = hooks.call_model(model, system, rest, _view(state, update, ()), runtime, metadata)
    update = _merge(update, _checked_commands(extra, deps.settable))
    after = hooks.run_node_hooks("after_model", _view(state, update, ()), runtime, deps.settable, [response])
    return response, _merge(update, after)


async def amodel_call(deps: Any, state: dict[str, Any], runtime: Any, messages: list[BaseMessage],
                      metadata: dict[str, Any]) -> tuple[AIMessage, dict[str, Any]]:
    model = await deps.amodel_for(runtime)
    hooks: Hooks = deps.hooks
    if not hooks.middleware:
        return await model.with_config(metadata=metadata).ainvoke(messages), {}
    update = await hooks.arun_node_hooks("before_model", state, runtime, deps.settable)
    system, rest = _split(messages)
    response, extra = await hooks.acall_model(model, system, rest, _view(state, update, ()), runtime, metadata)
    update = _merge(update, _checked_commands(extra, deps.settable))
    after = await hooks.arun_node_hooks("after_model", _view(state, update, ()), runtime, deps.settable,
                                        [response])
    return response, _merge(update, after)


def _split(messages: list[BaseMessage]) -> tuple[SystemMessage, list[BaseMessage]]:
    system = messages[0] if messages and isinstance(messages[0], SystemMessage) else SystemMessage(content="")
    return system, [m for m in messages if m is not system]


def _checked_commands(update: dict[str, Any], settable: frozenset[str]) -> dict[str, Any]:
    unknown = sorted(k for k in update if k != "messages" and k not in settable)
    if unknown:
        raise ValueError(f"a wrap_model_call command updated {', '.join(map(repr, unknown))}, which no "
                         "state_schema declares")
    return update


def episode_hooks(deps: Any, name: str, state: dict[str, Any], runtime: Any) -> tuple[dict[str, Any], str]:
    """before_agent / after_agent: (state update, reason when a hook ended the episode)."""
    hooks: Hooks = deps.hooks
    if not hooks.middleware:
        return {}, ""
    try:
        return hooks.run_node_hooks(name, state, runtime, deps.settable), ""
    except MiddlewareEnd as end:
        return {}, str(end)
