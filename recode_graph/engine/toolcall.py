"""A LangChain tool called from generated code, given what LangGraph's ``ToolNode`` would give it.

The host-side primitive (``recode_graph.engine.primitives``) calls ``call_tool`` inside its ``@task``:

- injected parameters (``InjectedState``, ``InjectedStore``, ``ToolRuntime``, ``InjectedToolCallId``, any
  ``InjectedToolArg``) are hidden from the prompt, refused from the code, and filled in as ToolNode does
  (state = the agent's state; context, store, stream writer from the run; a stable id per call);
- async-only tools run on the graph's event loop under ``ainvoke`` and on a private loop under ``invoke``;
- the middleware's ``wrap_tool_call`` / ``awrap_tool_call`` chain runs around the call with a real
  ``ToolCallRequest`` and a handler returning ``ToolMessage`` / ``Command``;
- the code gets the tool's own Python value (or a ``ToolMessage``'s content, the content of a
  ``content_and_artifact`` tool); artifacts go to the trajectory; ``Command(update=...)`` updates state keys
  the agent has (user keys via ``state_schema``; ``messages``), anything else is a ``ToolCommandError``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import typing
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, InjectedToolArg, InjectedToolCallId
from langchain_core.tools.base import get_all_basemodel_annotations
from langgraph.prebuilt import InjectedState, InjectedStore, ToolRuntime
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command

from recode_graph.approvals.effects import KEY_ARG, has_side_effects
from recode_graph.engine.toolresult import ToolCommandError, merge_updates, read_result
from recode_graph.sandbox.plain import stored

__all__ = ["ToolCommandError", "ToolContext", "ToolSpec", "analyse", "call_id", "call_tool", "merge_updates",
           "read_result", "tool_context", "tool_runtime"]

ToolWrapper = Callable[[ToolCallRequest, Callable[[ToolCallRequest], Any]], Any]
AsyncToolWrapper = Callable[[ToolCallRequest, Callable[[ToolCallRequest], Awaitable[Any]]], Awaitable[Any]]


def _markers(hint: Any) -> list[Any]:
    """Every annotation inside ``hint`` (through Annotated, Optional/Union and generic origins)."""
    out = [hint]
    origin = get_origin(hint)
    if origin is not None:
        out.append(origin)
    if origin in (Annotated, Union, typing.Union) or (origin is not None and get_args(hint)):
        for arg in get_args(hint):
            out.extend(_markers(arg))
    if hasattr(hint, "__args__") and origin is None:  # X | Y unions
        for arg in getattr(hint, "__args__", ()) or ():
            out.extend(_markers(arg))
    return out


def _is(marker: Any, kind: type) -> bool:
    return isinstance(marker, kind) or (isinstance(marker, type) and issubclass(marker, kind))


@dataclass(frozen=True)
class ToolSpec:
    """How to call one tool: its visible arguments and where its injected ones come from."""

    tool: BaseTool
    visible: tuple[str, ...]
    hidden: frozenset[str]
    state_args: dict[str, str | None] = field(default_factory=dict)
    optional_state: frozenset[str] = frozenset()
    store_arg: str | None = None
    runtime_arg: str | None = None
    call_id_arg: str | None = None
    async_only: bool = False
    key_arg: str | None = None  # idempotency key of a side-effect tool (approvals.effects), set by the agent

    @property
    def supplied(self) -> frozenset[str]:
        """Plain ``InjectedToolArg`` parameters: hidden from the code, filled by middleware (``wrap_tool_call``
        with ``request.override``), as ToolNode passes them through."""
        filled = {*self.state_args, self.store_arg, self.runtime_arg, self.call_id_arg, self.key_arg}
        return frozenset(self.hidden - filled)

    @property
    def needs_tool_call(self) -> bool:
        """Invoked with a full ``ToolCall`` (an id to inject, or an artifact to keep)."""
        return self.call_id_arg is not None or self.tool.response_format == "content_and_artifact"


def analyse(tool: BaseTool) -> ToolSpec:
    schema = tool.get_input_schema()
    hints: dict[str, Any] = {}
    func = getattr(tool, "func", None) or getattr(tool, "coroutine", None)
    if func is not None:
        try:
            hints.update(get_type_hints(func, include_extras=True))
        except Exception:  # an unresolvable annotation: the schema still has the fields
            pass
    hints.update(get_all_basemodel_annotations(schema))
    fields = getattr(schema, "model_fields", {})
    state_args: dict[str, str | None] = {}
    optional: set[str] = set()
    hidden: set[str] = set()
    store_arg = runtime_arg = call_id_arg = None
    for name, hint in hints.items():
        if name == "return":
            continue
        markers = _markers(hint)
        if any(_is(m, ToolRuntime) for m in markers) or (name == "runtime" and name in fields):
            runtime_arg = name
            hidden.add(name)
            continue
        if not any(_is(m, InjectedToolArg) for m in markers):
            continue
        hidden.add(name)
        if any(_is(m, InjectedToolCallId) for m in markers):
            call_id_arg = name
        elif any(_is(m, InjectedStore) for m in markers):
            store_arg = name
        else:
            state = next((m for m in markers if _is(m, InjectedState)), None)
            if state is not None:
                key = state.field if isinstance(state, InjectedState) else None
                state_args[name] = key
                info = fields.get(name)
                if key and info is not None and not info.is_required():
                    optional.add(name)
    key_arg = KEY_ARG if has_side_effects(tool) and KEY_ARG in (tool.args or {}) else None
    if key_arg:
        hidden.add(key_arg)
    visible = tuple(n for n in (tool.args or {}) if n not in hidden)
    async_only = getattr(tool, "func", "n/a") is None and getattr(tool, "coroutine", None) is not None
    return ToolSpec(tool=tool, visible=visible, hidden=frozenset(hidden), state_args=state_args,
                    optional_state=frozenset(optional), store_arg=store_arg, runtime_arg=runtime_arg,
                    call_id_arg=call_id_arg, async_only=async_only, key_arg=key_arg)


def call_id(session: str, episode: int, node: str, index: int) -> str:
    """A tool-call id that is the same when a step is re-run (replay after an interrupt or a crash)."""
    digest = hashlib.sha1(f"{session}|{episode}|{node}|{index}".encode()).hexdigest()[:24]
    return f"call_{digest}"


@dataclass
class ToolContext:
    """What one execute step gives its tool calls."""

    state: dict[str, Any]  # the agent's state (with this step's earlier Command updates applied)
    runtime: Any = None  # langgraph Runtime of the execute node
    tools: list[BaseTool] = field(default_factory=list)
    settable: frozenset[str] = frozenset()  # state keys a Command may update besides messages
    wrap: ToolWrapper | None = None
    awrap: AsyncToolWrapper | None = None
    loop: asyncio.AbstractEventLoop | None = None  # the graph's loop under ainvoke/astream
    executor: Callable[[], concurrent.futures.Executor] | None = None  # threads for sync tools in async runs
    gate: Callable[[dict[str, Any], dict[str, Any]], Any] | None = None  # tool-call limits (recode_graph.engine.hooks)


def tool_runtime(ctx: ToolContext, call_id_: str, config: Any) -> ToolRuntime:
    runtime = ctx.runtime

    def no_writer(_: Any) -> None:
        return None

    return ToolRuntime(state=ctx.state, context=getattr(runtime, "context", None), config=config or {},
                       stream_writer=getattr(runtime, "stream_writer", None) or no_writer,
                       tool_call_id=call_id_, store=getattr(runtime, "store", None), tools=list(ctx.tools),
                       execution_info=getattr(runtime, "execution_info", None),
                       server_info=getattr(runtime, "server_info", None))


def _inject(spec: ToolSpec, args: dict[str, Any], runtime: ToolRuntime) -> dict[str, Any]:
    # The code's arguments never hold hidden names (only visible ones are mapped); what middleware put into the
    # request for a plain InjectedToolArg is passed on; state, store, runtime and call id are always ours.
    out = {k: v for k, v in args.items() if k not in spec.hidden or k in spec.supplied}
    if spec.key_arg and spec.key_arg in args:  # put there by the agent (Primitives._once), never by code
        out[spec.key_arg] = args[spec.key_arg]
    state = runtime.state if spec.state_args else None
    for arg, key in spec.state_args.items():
        if key is None:
            out[arg] = state
        elif key in state:
            out[arg] = state[key]
        elif arg not in spec.optional_state:
            raise KeyError(f"tool {spec.tool.name!r} reads state key {key!r}, which the agent's state lacks")
    if spec.store_arg is not None:
        if runtime.store is None:
            raise ValueError(f"tool {spec.tool.name!r} needs a store: pass create_recode_agent(store=...)")
        out[spec.store_arg] = runtime.store
    if spec.runtime_arg is not None:
        out[spec.runtime_arg] = runtime
    return out


def _payload(spec: ToolSpec, request: ToolCallRequest) -> Any:
    args = _inject(spec, dict(request.tool_call.get("args") or {}), request.runtime)
    if spec.needs_tool_call:
        return {**request.tool_call, "args": args, "type": "tool_call"}
    return args


class _Produced:
    """The tool's own return values, by the ToolMessage that carries them to the middleware."""

    def __init__(self) -> None:
        self.values: dict[int, Any] = {}

    def message(self, spec: ToolSpec, request: ToolCallRequest, output: Any) -> Any:
        if _is_result(output):
            return output
        content = output if isinstance(output, str) else _as_content(output)
        message = ToolMessage(content=content, tool_call_id=request.tool_call["id"], name=spec.tool.name)
        self.values[id(message)] = output
        return message


def _as_content(value: Any) -> str:
    import json

    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _run_coroutine(coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop | None) -> Any:
    """Run ``coro`` from synchronous code: on the graph's loop when it runs elsewhere, else on a new one."""
    if loop is not None and loop.is_running():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            return asyncio.run_coroutine_threadsafe(coro, loop).result()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # this thread already runs a loop
        return pool.submit(asyncio.run, coro).result()


def _is_result(output: Any) -> bool:
    """A ToolMessage / Command (or a list of them) that the tool returned, as opposed to a plain value."""
    return isinstance(output, (ToolMessage, Command)) or (
        isinstance(output, list) and bool(output) and all(isinstance(o, (ToolMessage, Command)) for o in output))


def _kept(spec: ToolSpec, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments a tool got that a trajectory can keep (not injected state, store or runtime)."""
    return {k: v for k, v in args.items() if k in spec.visible or k in spec.supplied}


def _call_direct(spec: ToolSpec, args: dict[str, Any], call_id_: str, ctx: ToolContext, config: Any
                 ) -> dict[str, Any]:
    """``call_tool`` when no middleware wraps the call: the same record, without a ``ToolCallRequest``, a
    ``ToolMessage`` for a plain value, or a ``ToolRuntime`` for a tool that takes no injected state."""
    needs_runtime = bool(spec.state_args) or spec.store_arg is not None or spec.runtime_arg is not None
    runtime = tool_runtime(ctx, call_id_, config) if needs_runtime else None
    payload: Any = _inject(spec, args, runtime)  # type: ignore[arg-type]
    if spec.needs_tool_call:
        payload = {"name": spec.tool.name, "args": payload, "id": call_id_, "type": "tool_call"}
    if spec.async_only:
        output = _run_coroutine(spec.tool.ainvoke(payload, config), ctx.loop)
    else:
        output = spec.tool.invoke(payload, config)
    if _is_result(output):
        record = read_result(spec.tool.name, call_id_, output, {}, ctx.settable)
    else:  # a plain value (what a ToolMessage built around it would give back)
        record = {"output": stored(output)}
    used = _kept(spec, args)
    if used and used != args:
        record["args"] = used  # e.g. without the idempotency key the agent added
    return record


def call_tool(spec: ToolSpec, args: dict[str, Any], call_id_: str, ctx: ToolContext, config: Any) -> dict[str, Any]:
    """Call the tool (through the middleware chain); a plain record: output, artifact, status, update."""
    on_loop = ctx.loop is not None and ctx.loop.is_running()
    wrapper = ctx.awrap if on_loop and (ctx.awrap is not None or spec.async_only) else ctx.wrap
    if wrapper is None:
        return _call_direct(spec, args, call_id_, ctx, config)
    tool_call = {"name": spec.tool.name, "args": args, "id": call_id_, "type": "tool_call"}
    request = ToolCallRequest(tool_call=tool_call, tool=spec.tool, state=ctx.state,  # type: ignore[arg-type]
                              runtime=tool_runtime(ctx, call_id_, config))
    produced = _Produced()
    used: dict[str, Any] = {}  # the arguments the tool got that a trajectory can keep (no state, store, runtime)

    def note(req: ToolCallRequest) -> None:
        given = dict(req.tool_call.get("args") or {})
        used.clear()
        used.update(_kept(spec, given))

    if on_loop and (ctx.awrap is not None or spec.async_only):
        # an async run: the awrap_tool_call chain and async tools run on the graph's event loop; a sync tool
        # runs on the agent's tool threads (the loop's default executor may be full of waiting tasks)
        async def aexecute(req: ToolCallRequest) -> Any:
            payload = _payload(spec, req)
            note(req)
            if spec.async_only:
                output = await spec.tool.ainvoke(payload, config)
            else:
                pool = ctx.executor() if ctx.executor is not None else None
                output = await (asyncio.wrap_future(pool.submit(spec.tool.invoke, payload, config)) if pool
                                else asyncio.to_thread(spec.tool.invoke, payload, config))
            return produced.message(spec, req, output)

        async def arun() -> Any:
            return await (ctx.awrap(request, aexecute) if ctx.awrap is not None else aexecute(request))

        result = _run_coroutine(arun(), ctx.loop)
    else:
        def execute(req: ToolCallRequest) -> Any:
            payload = _payload(spec, req)
            note(req)
            if spec.async_only:
                output = _run_coroutine(spec.tool.ainvoke(payload, config), ctx.loop)
            else:
                output = spec.tool.invoke(payload, config)
            return produced.message(spec, req, output)

        result = ctx.wrap(request, execute) if ctx.wrap is not None else execute(request)
    record = read_result(spec.tool.name, call_id_, result, produced.values, ctx.settable)
    if used and used != args:
        record["args"] = dict(used)  # middleware changed or added arguments: keep what the tool really got
    return record


def tool_context(state: Any, runtime: Any, deps: Any, loop: asyncio.AbstractEventLoop | None) -> ToolContext:
    """The tool context of one execute step (``deps``: the agent's ``AgentDeps``)."""
    hooks = deps.hooks
    gate = None
    if hooks.gates:
        def gate(call: dict[str, Any], current: dict[str, Any]) -> Any:
            return hooks.tool_gate(call, current, runtime, deps.settable)

    return ToolContext(state=dict(state), runtime=runtime, tools=list(deps.tools.values()), settable=deps.settable,
                       wrap=deps.tool_wrap, awrap=deps.tool_awrap, loop=loop, executor=deps.tool_executor, gate=gate)
