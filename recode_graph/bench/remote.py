"""``recode bench --server URL``: each episode is a thread of a LangGraph server running the served ReCode graph."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from recode_graph.bench.config import BenchConfig, Record
from recode_graph.bench.records import now_iso, one_line, recode_record


async def run_on_server(cfg: BenchConfig, todo: list[dict[str, str]],
                        done: Callable[[dict[str, str], Record], None]) -> None:
    from langgraph_sdk import get_client

    client = get_client(url=cfg.server)
    context: dict[str, Any] = {"environment": cfg.env, "split": cfg.split, "max_depth": cfg.max_depth,
                               "grounding": cfg.grounding}
    if isinstance(cfg.model, str):
        context["model"] = cfg.model
    gate = asyncio.Semaphore(cfg.concurrency)

    async def one(task: dict[str, str]) -> None:
        async with gate:
            start, started_at = time.perf_counter(), now_iso()
            thread_id = ""
            try:
                thread = await client.threads.create(metadata={"bench": f"{cfg.env}-{cfg.split}/{cfg.agent}",
                                                               "task_id": task["task_id"]})
                thread_id = thread["thread_id"]
                values = await client.runs.wait(thread_id, "recode", input={"task_id": task["task_id"]},
                                                context=context, raise_error=True)
                if not isinstance(values, dict) or "status" not in values:
                    raise RuntimeError(f"server returned no final state: {str(values)[:200]}")
                record = recode_record(values, float(values.get("score") or 0.0) >= 1.0)
            except Exception as exc:
                record = {"status": "error", "reason": one_line(exc), "score": 0.0, "won": False, "steps": 0,
                          "usage": {}}
            record["thread_id"] = thread_id
            record.update(wall_seconds=round(time.perf_counter() - start, 3), started_at=started_at,
                          finished_at=now_iso())
            done(task, record)

    await asyncio.gather(*(one(t) for t in todo))
