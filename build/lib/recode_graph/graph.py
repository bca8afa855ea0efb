"""The graph served by ``langgraph dev`` / LangGraph Platform (see langgraph.json).

Compiled without a checkpointer (the server supplies one). Model, environment and limits come from the
run's context (``RecodeContext``): pick them in LangGraph Studio's context panel or pass ``context=`` to
``runs.create``. With no model in the context the model is resolved from RECODE_MODEL, then
OPENAI_API_KEY (openai:gpt-4o-mini), then the local model.
"""

from __future__ import annotations

from recode_graph.agent import RECURSION_LIMIT, build_graph
from recode_graph.context import Settings
from recode_graph.deps import AgentDeps
from recode_graph.tools.langchain_bridge import as_tools

deps = AgentDeps(model=None, tools=as_tools(()), environment=None, examples=None, settings=Settings())
graph = build_graph(deps).compile(name="recode").with_config(recursion_limit=RECURSION_LIMIT)
