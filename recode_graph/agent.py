"""``create_recode_agent``: the ReCode loop as a compiled LangGraph graph."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import SystemMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph

from recode_graph.approvals.hitl import check_schema
from recode_graph.approvals.policy import from_hitl_middleware, parse_approve
from recode_graph.compat import load
from recode_graph.compiled import RecodeAgentGraph
from recode_graph.context import RecodeContext, Settings
from recode_graph.deps import AgentDeps
from recode_graph.engine.episode import folding
from recode_graph.engine.hooks import Hooks, check_middleware, hitl_middleware
from recode_graph.engine.runctx import keep_run_context
from recode_graph.engine.state import InputState, OutputState, RecodeState
from recode_graph.engine.structured import parse_response_format
from recode_graph.fastroute import fast_routes
from recode_graph.models.wrapped import is_chat_model
from recode_graph.routing import ROUTE_CHANNELS, route
from recode_graph.sandbox import Limits
from recode_graph.schema import build_schemas, user_keys
from recode_graph.tools.base import Environment
from recode_graph.tools.langchain_bridge import as_tools

RECURSION_LIMIT = 10_000


def build_graph(deps: AgentDeps, schemas: tuple[type, type, type] | None = None,
                context_schema: type | None = None) -> StateGraph:
    from recode_graph.nodes.execute import aexecute, execute
    from recode_graph.nodes.expand import aexpand, expand
    from recode_graph.nodes.finish import finish
    from recode_graph.nodes.review import review
    from recode_graph.nodes.start import start

    state, inputs, outputs = schemas or (RecodeState, InputState, OutputState)
    builder = StateGraph(state, context_schema=context_schema or RecodeContext, input_schema=inputs,
                         output_schema=outputs)
    def node(func: Callable[..., Any]) -> Callable[..., Any]:
        """A node with the saved run context, whose control values go into ``episode`` (engine.episode)."""
        return folding(keep_run_context(partial(func, deps=deps)))

    builder.add_node("start", partial(start, deps=deps))
    builder.add_node("expand", _sync_and_async(node(expand), node(aexpand)))
    builder.add_node("review", node(review))
    builder.add_node("execute", _sync_and_async(node(execute), node(aexecute)))
    builder.add_node("finish", node(finish))
    builder.add_edge(START, "start")
    for name in ("start", "expand", "review", "execute"):
        builder.add_conditional_edges(name, _untraced(route), ["expand", "review", "execute", "finish"])
    fast_routes(builder, ROUTE_CHANNELS)  # the route reads these, not a fresh copy of the whole state
    builder.add_edge("finish", END)
    return builder


def compile_agent(builder: StateGraph, structured_output: Any = None, **options: Any) -> RecodeAgentGraph:
    """``builder.compile(...)`` as a ``RecodeAgentGraph`` (thread_id check, sync durability, as_tool, typed
    ``structured_response``)."""
    graph = builder.compile(**options)
    graph.__class__ = RecodeAgentGraph
    graph.structured_output = structured_output  # type: ignore[attr-defined]
    return graph.with_config(recursion_limit=RECURSION_LIMIT)  # type: ignore[return-value]


def _untraced(func: Callable[..., Any]) -> Any:
    """A routing function without a trace run of its own (the edge shows in the graph, not as a run per step)."""
    return load("RunnableCallable")(func, name=func.__name__, trace=False)


def _sync_and_async(func: Callable[..., Any], afunc: Callable[..., Any]) -> Any:
    """A node with both implementations: ``invoke`` uses the first, ``ainvoke``/``astream`` the second."""
    # not traced itself: the graph's node run is the one chain run per step
    name = getattr(getattr(func, "func", func), "__name__", "node")
    return load("RunnableCallable")(func, afunc, name=name, trace=False)


def create_recode_agent(
    model: BaseChatModel | Runnable | str | None,
    tools: Sequence[BaseTool | Callable[..., Any]] | None = None,
    *,
    system_prompt: str | SystemMessage | None = None,
    middleware: Sequence[Any] = (),
    state_schema: type | None = None,
    context_schema: type | None = None,
    checkpointer: Any = None,
    store: Any = None,
    interrupt_before: list[str] | None = None,
    interrupt_after: list[str] | None = None,
    debug: bool = False,
    name: str = "recode",
    cache: Any = None,
    environment: Environment | None = None,
    examples: str | None = None,
    max_depth: int = 10,
    max_rewrites: int = 5,
    max_repairs: int = 2,
    max_model_calls: int = 200,
    approve: Any = None,
    limits: Limits | None = None,
    executor: Any = "workers",
    chat_history: str = "steps",
    response_format: Any = None,
    approval_schema: str = "langchain",
) -> RecodeAgentGraph:
    """Build the ReCode agent, called like ``langchain.agents.create_agent``.

    ``model``: a chat model or a model string (``"openai:gpt-4o-mini"``, ``"local"``, ``"scripted:<f>"``).
    ``tools``: LangChain tools or documented functions, callable from the generated code by name.
    ``system_prompt``: guidance added to every expansion prompt.
    ``middleware``: LangChain ``AgentMiddleware`` instances (see the README for the hooks that apply).
    ``state_schema`` / ``context_schema``: extra state keys (tools may set them with ``Command``) and the
    type of the run's ``context`` (reachable from tools through ``ToolRuntime``).
    ``environment``: an adapter from ``tools.load_environment`` (gives ``run(action)`` and prompts).
    ``approve``: None, ``"expansions"``, ``"actions"``, ``"all"``, tool names, or LangChain's
    ``interrupt_on`` mapping (see ``recode_graph.approvals.policy``); anything else is a ValueError. A run
    that reviews anything needs a checkpointer: this one's, a parent graph's or the server's (a run with none
    anywhere is a ValueError when it starts).
    ``executor``: ``"workers"`` (statements run in the process-wide pool of limited worker processes),
    a ``recode_graph.sandbox.workers.WorkerPool`` of your own, or ``"inprocess"`` (debugging only: not a security
    boundary; a long C call or a memory blow-up hits this process).
    ``response_format``: a pydantic model, dataclass, TypedDict or JSON schema (or ``ToolStrategy``/
    ``ProviderStrategy`` of one): ``final_answer`` must give that shape and ``invoke``'s output has
    ``structured_response`` of that type, as ``create_agent`` gives it (the state keeps it as plain JSON).
    ``chat_history``: ``"steps"`` (each expansion and primitive call also goes into ``messages``, as chat UIs
    show an agent's work) or ``"answer"`` (only the answer is added).
    ``approval_schema``: ``"langchain"`` (the HITL middleware's request and ``{"decisions": [...]}``),
    ``"per_call"`` (its per-call ``ToolApprovalRequest`` with a ``response_schema``, answered with one decision) or
    ``"agent-inbox"`` (langgraph's older ``HumanInterrupt``, which Agent Inbox and the npm template of Agent
    Chat UI render with buttons; see ``recode_graph.approvals.hitl``).
    """
    resolved: BaseChatModel | Runnable | None
    if isinstance(model, str):
        from recode_graph.models.resolve import resolve_model

        resolved = resolve_model(model)
    elif model is None or is_chat_model(model):
        resolved = model
    else:
        raise ValueError(f"model must be a chat model (plain, Runnable-wrapped or configurable) or a model string, "
                         f"got {type(model).__name__}")
    if tools is None:
        tools = ()
    elif isinstance(tools, (str, bytes, dict, BaseTool)) or not isinstance(tools, Iterable):
        raise TypeError(f"tools must be a list of LangChain tools or functions, got {type(tools).__name__}")
    if environment is not None and not hasattr(environment, "reset"):
        raise ValueError("environment must be an adapter from recode_graph.tools.load_environment(...)")
    if isinstance(system_prompt, SystemMessage):
        system_prompt = system_prompt.text
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise TypeError(f"system_prompt must be a string or a SystemMessage, got {type(system_prompt).__name__}")
    middleware_list = check_middleware(middleware)
    schemas_of = [m.state_schema for m in middleware_list]
    named_tools = as_tools([*tools, *(t for m in middleware_list for t in getattr(m, "tools", None) or ())])
    approval = replace(parse_approve(approve, named_tools), schema=check_schema(approval_schema))
    for hitl in hitl_middleware(middleware):  # LangChain's HITL middleware: its interrupt_on joins approve=
        approval = approval.merged(from_hitl_middleware(hitl, named_tools))
        if getattr(hitl, "interrupt_mode", "batched") == "per_call":  # its typed per-call requests
            if approval_schema == "agent-inbox":
                raise ValueError("approval_schema='agent-inbox' and HumanInTheLoopMiddleware(interrupt_mode="
                                 "'per_call') ask in two different shapes; pick one")
            approval = replace(approval, schema="per_call")
    if approval.reviews_anything and checkpointer is False:
        raise ValueError("approve= pauses runs for a human decision, which needs a checkpointer; "
                         "checkpointer=False turns it off")
    settings = Settings(max_depth=max_depth, max_rewrites=max_rewrites, max_repairs=max_repairs,
                        max_model_calls=max_model_calls, approval=approval, limits=limits or Limits(),
                        chat_history=chat_history)
    shape = parse_response_format(response_format)
    hooks = Hooks(middleware_list)
    wrap, awrap = hooks.tool_wrappers()
    deps = AgentDeps(model=resolved, tools=named_tools, environment=environment, examples=examples,
                     settings=settings, system_prompt=system_prompt or "", settable=user_keys(state_schema, schemas_of),
                     hooks=hooks, tool_wrap=wrap, tool_awrap=awrap, sandbox=executor, response_format=shape)
    schemas = build_schemas(state_schema, schemas_of)
    return compile_agent(build_graph(deps, schemas, context_schema), shape, checkpointer=checkpointer, store=store,
                         interrupt_before=interrupt_before, interrupt_after=interrupt_after, debug=debug,
                         name=name, cache=cache)
