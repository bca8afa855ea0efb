"""``create_recode_agent``: the ReCode loop as a compiled LangGraph graph."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from recode_graph.context import RecodeContext, Settings, approval_settings
from recode_graph.deps import AgentDeps
from recode_graph.routing import route
from recode_graph.sandbox import Limits
from recode_graph.state import InputState, RecodeState
from recode_graph.tools.base import Environment
from recode_graph.tools.langchain_bridge import as_tools

RECURSION_LIMIT = 10_000


def build_graph(deps: AgentDeps) -> StateGraph:
    from recode_graph.nodes.execute import aexecute, execute
    from recode_graph.nodes.expand import aexpand, expand
    from recode_graph.nodes.finish import finish
    from recode_graph.nodes.review import review
    from recode_graph.nodes.start import start

    builder = StateGraph(RecodeState, context_schema=RecodeContext, input_schema=InputState)
    builder.add_node("start", partial(start, deps=deps))
    builder.add_node("expand", _sync_and_async(partial(expand, deps=deps), partial(aexpand, deps=deps)))
    builder.add_node("review", partial(review, deps=deps))
    builder.add_node("execute", _sync_and_async(partial(execute, deps=deps), partial(aexecute, deps=deps)))
    builder.add_node("finish", partial(finish, deps=deps))
    builder.add_edge(START, "start")
    for name in ("start", "expand", "review", "execute"):
        builder.add_conditional_edges(name, route, ["expand", "review", "execute", "finish"])
    builder.add_edge("finish", END)
    return builder


def _sync_and_async(func: Callable[..., Any], afunc: Callable[..., Any]) -> Any:
    """A node with both implementations: ``invoke`` uses the first, ``ainvoke``/``astream`` the second."""
    try:
        from langgraph._internal._runnable import RunnableCallable
    except ImportError:  # pragma: no cover - layout of a future langgraph release
        return func
    return RunnableCallable(func, afunc, name=getattr(getattr(func, "func", func), "__name__", "node"))


def create_recode_agent(
    model: BaseChatModel | str | None,
    tools: Sequence[BaseTool | Callable[..., Any]] = (),
    environment: Environment | None = None,
    examples: str | None = None,
    checkpointer: Any = None,
    store: Any = None,
    max_depth: int = 10,
    max_rewrites: int = 5,
    max_repairs: int = 2,
    approve: Any = None,
    *,
    max_model_calls: int = 200,
    limits: Limits | None = None,
    name: str = "recode",
) -> CompiledStateGraph:
    """Build the ReCode agent.

    ``model``: a chat model or a model string (``"openai:gpt-4o-mini"``, ``"local"``, ``"scripted:<f>"``).
    ``tools``: LangChain tools or documented functions, callable from the generated code by name.
    ``environment``: an adapter from ``tools.load_environment`` (gives ``run(action)`` and prompts).
    ``approve``: None, ``"expansions"``, ``"actions"``, ``"all"`` or a set of tool names to review.
    """
    resolved: BaseChatModel | None
    if isinstance(model, str):
        from recode_graph.models import resolve_model

        resolved = resolve_model(model)
    elif model is None or isinstance(model, BaseChatModel):
        resolved = model
    else:
        raise ValueError(f"model must be a chat model or a model string, got {type(model).__name__}")
    if environment is not None and not hasattr(environment, "reset"):
        raise ValueError("environment must be an adapter from recode_graph.tools.load_environment(...)")
    review_expansions, review_tools = approval_settings(approve)
    settings = Settings(max_depth=max_depth, max_rewrites=max_rewrites, max_repairs=max_repairs,
                        max_model_calls=max_model_calls, approve_expansions=review_expansions,
                        approve_tools=review_tools, limits=limits or Limits())
    deps = AgentDeps(model=resolved, tools=as_tools(tools), environment=environment, examples=examples,
                     settings=settings)
    graph = build_graph(deps).compile(checkpointer=checkpointer, store=store, name=name)
    # Checkpoint each step before the next one starts ("sync" durability): a crash can then lose at most
    # the step in progress, whose primitive calls are replayed from their task writes. Callers can still
    # pass durability="async" to invoke/stream.
    if checkpointer is None:
        return graph.with_config(recursion_limit=RECURSION_LIMIT)  # type: ignore[return-value]
    return graph.with_config(recursion_limit=RECURSION_LIMIT,  # type: ignore[return-value]
                             configurable={"__pregel_durability": "sync"})
