"""Every private langgraph / langchain name recode-graph uses, in one place (a leaf: no project imports).

A private name can move in any release. Each one here is looked up when first used; one that moved is an
``ImportError`` naming it, the installed version and the versions this release supports, never a silent change
of behaviour. ``tests/test_compat.py`` resolves them all, so CI (and ``scripts/check_floors.sh`` at the floor
versions) fails loudly on an upgrade that moves one.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

SUPPORTED = "langgraph >=1.2.13,<2, langchain >=1.3.0,<2, langchain-core >=1.4.7,<2"

# name here → (module, attribute, distribution)
PRIVATE: dict[str, tuple[str, str, str]] = {
    # a node with sync and async implementations, and an edge with no trace run of its own (recode_graph.agent)
    "RunnableCallable": ("langgraph._internal._runnable", "RunnableCallable", "langgraph"),
    # the run's checkpointer in its config (side-effect log, approvals need one: nodes/start.py, primitives)
    "CONFIG_KEY_CHECKPOINTER": ("langgraph._internal._constants", "CONFIG_KEY_CHECKPOINTER", "langgraph"),
    # a task's stored resume values: which answer belongs to which request (recode_graph.approvals.binding)
    "CONFIG_KEY_SCRATCHPAD": ("langgraph._internal._constants", "CONFIG_KEY_SCRATCHPAD", "langgraph"),
    # the durability a caller picked (recode_graph.compiled: sync durability unless chosen)
    "CONFIG_KEY_DURABILITY": ("langgraph._internal._constants", "CONFIG_KEY_DURABILITY", "langgraph"),
    # init_chat_model's configurable model (recode_graph.models.wrapped: is it a chat model?)
    "ConfigurableModel": ("langchain.chat_models.base", "_ConfigurableModel", "langchain"),
    # a conditional edge that reads only the channels its route needs (recode_graph.fastroute): the branch class,
    # the per-task read function whose bound channels and writes it reads, and the config key that holds it
    "BranchSpec": ("langgraph.graph._branch", "BranchSpec", "langgraph"),
    "local_read": ("langgraph.pregel._algo", "local_read", "langgraph"),
    "CONFIG_KEY_READ": ("langgraph._internal._constants", "CONFIG_KEY_READ", "langgraph"),
    # the delta channel of tree / variables / trajectory (beta, public module: recode_graph.engine.state)
    "DeltaChannel": ("langgraph.channels", "DeltaChannel", "langgraph"),
}


def _installed(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


@cache
def load(name: str) -> Any:
    """The private name ``name`` of ``PRIVATE``, or an ``ImportError`` that says what moved and what is supported."""
    module, attribute, distribution = PRIVATE[name]
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError):
        raise ImportError(f"recode-graph uses {module}.{attribute}, which {distribution} "
                          f"{_installed(distribution)} does not have; this recode-graph release supports "
                          f"{SUPPORTED} (pip install the versions in its pyproject.toml)") from None
