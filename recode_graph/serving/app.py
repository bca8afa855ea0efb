"""The ASGI app of one server process: Aegra's app (0.11, Redis job queue and run leases), serving
langgraph.json as it is.

``uvicorn recode_graph.serving.app:app`` with the environment of ``recode_graph.serving.settings``. Five
additions to Aegra:

- an ``auth`` handler named in the config that does not load stops the process at start (Aegra would serve
  every caller as one anonymous user instead; ``recode_graph.serving.authload``);
- a JSON body holding text Postgres cannot store (a lone surrogate, a NUL) is an HTTP 422 naming the field,
  not a 500 (``recode_graph.serving.bodies``);

- a graph given as ``module:attr`` (``"recode_graph.graph:graph"``, as ``langgraph dev`` accepts) is imported
  as a module; Aegra itself only loads ``./file.py:attr`` paths;
- a failed run's error keeps its type, as under ``langgraph dev`` (``recode_graph.serving.errors``);
- each claim of a run holds its lease under a name of its own, only the holder may end the run, and a run
  whose end could not be recorded is left to the lease reaper (``recode_graph.serving.claims``).

Which process runs a run, and the takeover of a dead process's runs, are Aegra's: its workers take runs from the
Redis queue and hold a lease on each in Postgres; a lease that is not renewed expires and the run is queued
again (docs/serving.md).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from aegra_api.api import runs as aegra_runs
from aegra_api.main import app
from aegra_api.services import langgraph_service, run_executor, run_status, run_waiters, worker_executor

from recode_graph.serving.authload import load_auth_or_fail
from recode_graph.serving.bodies import TextBodies
from recode_graph.serving.claims import holder_only, per_claim, releasing, run_holder
from recode_graph.serving.errors import typed_finalize, typed_result_body

_load_from_file = langgraph_service.LangGraphService._load_graph_from_file


async def _load_graph(self: langgraph_service.LangGraphService, graph_id: str, graph_info: Any) -> Any:
    """``module:attr`` graphs (importable, not a file next to the config) as ``langgraph dev`` loads them."""
    raw = graph_info["file_path"]
    base = self.config_path.parent if self.config_path else Path.cwd()
    if not (base / raw).exists() and not raw.endswith(".py") and all(p.isidentifier() for p in raw.split(".")):
        graph = importlib.import_module(raw)
        for part in graph_info["export_name"].split("."):
            graph = getattr(graph, part)
        return await graph() if callable(graph) and not hasattr(graph, "invoke") else graph
    return await _load_from_file(self, graph_id, graph_info)


langgraph_service.LangGraphService._load_graph_from_file = _load_graph  # type: ignore[method-assign]
app.add_middleware(TextBodies)  # type: ignore[arg-type]
load_auth_or_fail()
_workers = worker_executor.WorkerExecutor
_active = frozenset(run_status.ACTIVE_RUN_STATES)
_workers._execute_and_release = per_claim(_workers._execute_and_release)  # type: ignore[method-assign]
worker_executor._release_lease = releasing(_active)
run_executor.finalize_run = typed_finalize(holder_only(  # type: ignore[assignment]
    run_executor.finalize_run, run_holder, run_executor._lease_loss_cancellations, _active))
run_waiters.run_result_body = typed_result_body(run_waiters.run_result_body)  # type: ignore[assignment]
aegra_runs.run_result_body = run_waiters.run_result_body  # type: ignore[attr-defined]

__all__ = ["app"]
