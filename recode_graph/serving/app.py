"""The ASGI app of one server process: Aegra's app, serving langgraph.json as it is, with run leases.

``uvicorn recode_graph.serving.app:app`` with the environment of ``recode_graph.serving.settings``. Two
additions to Aegra 0.6:

- a graph given as ``module:attr`` (``"recode_graph.graph:graph"``, as ``langgraph dev`` accepts) is imported
  as a module; Aegra itself only loads ``./file.py:attr`` paths;
- a failed run's output is its error, as under ``langgraph dev`` (``recode_graph.serving.errors``);
- every run holds a lease (``recode_graph.serving.leases``): a run of a dead process is taken over by a live
  one, and a cancel reaches the process that runs the run.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aegra_api.api import runs as aegra_runs
from aegra_api.core.database import db_manager
from aegra_api.main import app
from aegra_api.models import User
from aegra_api.services import langgraph_service
from aegra_api.services.streaming_service import streaming_service
from aegra_api.settings import settings

from recode_graph.serving.errors import RunErrors
from recode_graph.serving.leases import Leases

_load_from_file = langgraph_service.LangGraphService._load_graph_from_file


async def _load_graph(self: langgraph_service.LangGraphService, graph_id: str, graph_info: dict[str, str]) -> Any:
    """``module:attr`` graphs (importable, not a file next to the config) as ``langgraph dev`` loads them."""
    raw = graph_info["file_path"]
    base = self.config_path.parent if self.config_path else Path.cwd()
    if not (base / raw).exists() and not raw.endswith(".py") and all(p.isidentifier() for p in raw.split(".")):
        graph = importlib.import_module(raw)
        for part in graph_info["export_name"].split("."):
            graph = getattr(graph, part)
        return await graph() if callable(graph) and not hasattr(graph, "invoke") else graph
    return await _load_from_file(self, graph_id, graph_info)


async def _last_checkpoint(thread_id: str) -> dict[str, Any] | None:
    found = await db_manager.get_checkpointer().aget_tuple({"configurable": {"thread_id": thread_id,
                                                                             "checkpoint_ns": ""}})
    return dict(found.metadata) if found is not None else None


def _connect() -> Any:
    if db_manager.lg_pool is None:
        raise RuntimeError("database not initialized")
    return db_manager.lg_pool.connection()


errors = RunErrors(_connect)
leases = Leases(settings.db.database_url_sync, errors.executor(aegra_runs.execute_run_async),
                interval=float(os.environ.get("RECODE_TAKEOVER_INTERVAL", "2")), tasks=aegra_runs.active_runs,
                last_checkpoint=_last_checkpoint, user_from=User.model_validate)

langgraph_service.LangGraphService._load_graph_from_file = _load_graph  # type: ignore[method-assign]
aegra_runs.execute_run_async = leases.execute  # type: ignore[assignment]

streaming_service.signal_run_error = errors.signal(streaming_service.signal_run_error)  # type: ignore[method-assign]
_cancel_run = streaming_service.cancel_run
_interrupt_run = streaming_service.interrupt_run


async def _cancel_everywhere(run_id: str) -> bool:
    await leases.request_cancel(run_id)
    return await _cancel_run(run_id)


async def _interrupt_everywhere(run_id: str) -> bool:
    await leases.request_cancel(run_id)
    return await _interrupt_run(run_id)


streaming_service.cancel_run = _cancel_everywhere  # type: ignore[method-assign]
streaming_service.interrupt_run = _interrupt_everywhere  # type: ignore[method-assign]

_aegra_lifespan = app.router.lifespan_context


@asynccontextmanager
async def _lifespan(application: Any) -> AsyncIterator[Any]:
    async with _aegra_lifespan(application) as state:
        await leases.start()
        try:
            yield state
        finally:
            await leases.stop()
    await leases.close()  # after Aegra ended this process's runs: its leases were removed with them


app.router.lifespan_context = _lifespan

__all__ = ["app", "leases"]
