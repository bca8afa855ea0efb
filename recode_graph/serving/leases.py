"""Which server process runs which run, and the takeover of a dead process's runs.

Aegra 0.6 runs a run as a task inside the process that received the request and keeps nothing about it
outside that process: a process killed mid-run leaves the run ``running`` for ever. Here every run a process
starts is written to ``recode_run_leases`` (run id, owner, the arguments it was started with) and removed when
the run ends. A process holds a Postgres advisory lock (``LOCK_CLASS``, its owner number) on a connection of its
own for as long as it lives: the lock *is* the lease, Postgres releases it the moment the process or its
connection dies. Every ``interval`` seconds each live process looks for leases whose owner holds no lock,
claims each with one conditional UPDATE (one process wins) and runs it again: from the thread's last checkpoint
when that checkpoint was written by this run (the graph continues where it stopped; finished steps are not
repeated), otherwise with the run's original input or command. A cancel received by any process reaches the
owner through the same table.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

LOCK_CLASS = 0x52434F  # advisory-lock class of recode server processes ("RCO")
SETUP_KEY = 0  # the lock taken while creating the table
TERMINAL = ("success", "error", "interrupted", "timeout")

log = logging.getLogger("recode.serving.leases")

SCHEMA = """
CREATE TABLE IF NOT EXISTS recode_run_leases (
    run_id text PRIMARY KEY,
    owner integer NOT NULL,
    args jsonb NOT NULL,
    takeovers integer NOT NULL DEFAULT 0,
    cancel_requested boolean NOT NULL DEFAULT false,
    started_at timestamptz NOT NULL DEFAULT now()
)
"""

ORPHANS = """
SELECT l.run_id, l.owner FROM recode_run_leases l
WHERE l.owner <> %(me)s AND NOT EXISTS (
    SELECT 1 FROM pg_locks p
    WHERE p.locktype = 'advisory' AND p.granted AND p.objsubid = 2
      AND p.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND p.classid::bigint = %(cls)s AND p.objid::bigint = l.owner)
ORDER BY l.started_at
"""

# execute(run_id, thread_id, graph_id, input, user, config, context, stream_mode, session, checkpoint, command,
#         interrupt_before, interrupt_after, multitask_strategy, subgraphs): Aegra's run executor
Executor = Callable[..., Awaitable[None]]
ARG_NAMES = ("thread_id", "graph_id", "input", "user", "config", "context", "stream_mode", "session", "checkpoint",
             "command", "interrupt_before", "interrupt_after", "multitask_strategy", "subgraphs")


class Leases:
    """The leases of one server process (see the module's docstring)."""

    def __init__(self, database_url: str, execute: Executor, *, interval: float = 2.0,
                 tasks: dict[str, asyncio.Task[Any]] | None = None,
                 last_checkpoint: Callable[[str], Awaitable[dict[str, Any] | None]] | None = None,
                 user_from: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.database_url = database_url
        self.owner = secrets.randbelow(2**31 - 2) + 1
        self.interval = interval
        self.taken_over: list[str] = []
        self._execute = execute
        self._tasks: dict[str, asyncio.Task[Any]] = tasks if tasks is not None else {}
        self._last_checkpoint = last_checkpoint
        self._user_from = user_from or (lambda data: data)
        self._conn: psycopg.AsyncConnection[dict[str, Any]] | None = None
        self._loop_task: asyncio.Task[None] | None = None

    # -- life of the process -------------------------------------------------------------------------

    async def start(self) -> None:
        self._conn = await psycopg.AsyncConnection.connect(self.database_url, autocommit=True, row_factory=dict_row)
        await self._conn.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, self.owner))
        async with self._conn.transaction():
            await self._conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, SETUP_KEY))
            await self._conn.execute(SCHEMA)
        self._loop_task = asyncio.create_task(self._watch())
        log.info("recode leases: owner %s, takeover every %.1fs", self.owner, self.interval)

    async def stop(self) -> None:
        """Stop watching; the lease itself ends with ``close`` (after the process's own runs ended)."""
        if self._loop_task:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None

    async def close(self) -> None:
        await self.stop()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    # -- the executor wrapper ------------------------------------------------------------------------

    async def execute(self, run_id: str, *args: Any) -> None:
        """Aegra's executor with a lease: recorded before the run starts, removed when it ends."""
        values = dict(zip(ARG_NAMES, args, strict=False))
        values["session"] = None
        user = values.get("user")
        values["user"] = user.model_dump() if hasattr(user, "model_dump") else user
        await self._sql("INSERT INTO recode_run_leases (run_id, owner, args) VALUES (%s, %s, %s) "
                        "ON CONFLICT (run_id) DO UPDATE SET owner = EXCLUDED.owner",
                        (run_id, self.owner, Jsonb(json.loads(json.dumps(values, default=str)))))
        try:
            await self._execute(run_id, *args)
        finally:
            await asyncio.shield(self._sql("DELETE FROM recode_run_leases WHERE run_id = %s AND owner = %s",
                                           (run_id, self.owner)))

    async def request_cancel(self, run_id: str) -> None:
        """A cancel received here for a run another process may own: the owner sees it at its next look."""
        await self._sql("UPDATE recode_run_leases SET cancel_requested = true WHERE run_id = %s", (run_id,))

    # -- watching ------------------------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._cancel_requested()
                await self.take_over()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed look is tried again at the next one
                log.exception("recode leases: a look for orphaned runs failed")

    async def _cancel_requested(self) -> None:
        rows = await self._rows("SELECT run_id FROM recode_run_leases WHERE owner = %s AND cancel_requested",
                                (self.owner,))
        for row in rows:
            task = self._tasks.get(row["run_id"])
            if task is not None and not task.done():
                log.info("recode leases: cancelling run %s (asked through another process)", row["run_id"])
                task.cancel()

    async def take_over(self) -> list[str]:
        """Claim and restart every run whose owner is gone; returns their ids."""
        taken: list[str] = []
        for row in await self._rows(ORPHANS, {"me": self.owner, "cls": LOCK_CLASS}):
            claimed = await self._rows("UPDATE recode_run_leases SET owner = %s, takeovers = takeovers + 1 "
                                       "WHERE run_id = %s AND owner = %s RETURNING args, cancel_requested",
                                       (self.owner, row["run_id"], row["owner"]))
            if not claimed:
                continue  # another process was first
            run_id = row["run_id"]
            status = await self._rows("SELECT status FROM runs WHERE run_id = %s", (run_id,))
            if not status or status[0]["status"] in TERMINAL or claimed[0]["cancel_requested"]:
                await self._sql("DELETE FROM recode_run_leases WHERE run_id = %s", (run_id,))
                if status and claimed[0]["cancel_requested"]:
                    await self._sql("UPDATE runs SET status = 'interrupted' WHERE run_id = %s", (run_id,))
                continue
            args = await self._restart_args(run_id, claimed[0]["args"])
            log.warning("recode leases: run %s of dead process %s taken over by %s", run_id, row["owner"], self.owner)
            self._tasks[run_id] = asyncio.create_task(self.execute(run_id, *args))
            taken.append(run_id)
        self.taken_over.extend(taken)
        return taken

    async def _restart_args(self, run_id: str, saved: dict[str, Any]) -> list[Any]:
        values = dict(saved)
        values["user"] = self._user_from(values.get("user") or {})
        last = await self._last_checkpoint(values["thread_id"]) if self._last_checkpoint else None
        if last is not None and last.get("run_id") == run_id:
            # this run had written checkpoints: continue from the last one, do not send its input again
            values.update(input=None, command=None, checkpoint=None)
        return [values.get(name) for name in ARG_NAMES]

    # -- SQL on the lease connection -----------------------------------------------------------------

    async def _sql(self, query: str, params: Any = None) -> None:
        if self._conn is None:
            raise RuntimeError("leases not started")
        await self._conn.execute(query, params)

    async def _rows(self, query: str, params: Any = None) -> list[dict[str, Any]]:
        if self._conn is None:
            raise RuntimeError("leases not started")
        cur = await self._conn.execute(query, params)
        return await cur.fetchall()
