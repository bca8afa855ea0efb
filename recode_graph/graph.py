"""The graph served by ``langgraph dev`` / LangGraph Platform (see langgraph.json).

Compiled without a checkpointer (the server supplies one). Model, environment and limits come from the
run's context (``RecodeContext``): pick them in LangGraph Studio's context panel or pass ``context=`` to
``runs.create``. With no model in the context the server's RECODE_MODEL is used, then openai:gpt-4o-mini when
OPENAI_API_KEY is set; otherwise the run fails with a one-line error naming the context field (the embedded
local model is never started inside a server unless asked for: ``model: "local"``).

A client chooses a model, never code: the context's ``model`` is a provider string (``"openai:gpt-4o-mini"``),
``local`` / ``local:<variant>``, ``scripted:<fixture>`` or a name the operator put on the ``RECODE_MODELS``
allowlist (``recode_graph.models.allowlist``). A module path (``"os:abort"``) is a one-line run error and
nothing is imported; every other context field is checked the same way (``recode_graph.context.check_context``).
"""

from __future__ import annotations

import os

from langchain_core.language_models import BaseChatModel

from recode_graph.agent import build_graph, compile_agent
from recode_graph.context import Settings
from recode_graph.deps import AgentDeps
from recode_graph.models.openai_compat import allowed_base_urls
from recode_graph.models.resolve import ModelError, resolve_model
from recode_graph.tools.langchain_bridge import as_tools


def served_model(spec: str) -> BaseChatModel:
    """A run's model: the context's ``model``, else one the server was configured with, never a silent default."""
    if not spec and not (os.environ.get("RECODE_MODEL", "").strip() or os.environ.get("OPENAI_API_KEY")):
        raise ModelError("no model for this run: set the run context's `model` field (e.g. \"openai:gpt-4o-mini\", "
                         "or \"local\" for the embedded model) or RECODE_MODEL in the server's environment")
    return resolve_model(spec or None)


deps = AgentDeps(model=None, tools=as_tools(()), environment=None, examples=None, settings=Settings(),
                 resolve=served_model, base_urls=allowed_base_urls())
graph = compile_agent(build_graph(deps), name="recode")
