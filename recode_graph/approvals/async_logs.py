"""Statements of the side-effect log (``recode_graph.approvals.effects``) on an async saver's database.

``AsyncSqliteSaver`` and ``AsyncPostgresSaver`` hold an async connection bound to one event loop. A marked
tool call reaches the log from the thread that runs its statement (``nodes.execute.aexecute`` runs statements
off the loop), so each statement is scheduled on the saver's loop, through the saver's own lock, committed,
and waited for before the call goes on: the same table and the same guarantee as with the sync savers.
Called on the loop's own thread it would wait for itself, so that is a clear ``RuntimeError`` instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

WAIT_SECONDS = 120.0  # one committed row; a database that does not answer in this time fails the call


class AsyncSaverSql:
    """Runs one statement (``?`` or ``%s`` parameters, see ``mark``) on an async saver's connection."""

    mark = "?"
    blob = "BLOB"

    def __init__(self, saver: Any) -> None:
        self.saver = saver
        self.loop: asyncio.AbstractEventLoop = saver.loop

    def __call__(self, sql: str, params: tuple[Any, ...], fetch: bool = False) -> Any:
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            raise RuntimeError(f"the side-effect log of {type(self.saver).__name__} was called on its event loop's "
                               "thread; marked tools must run from the statement's thread (ainvoke/astream)")
        future = asyncio.run_coroutine_threadsafe(self._run(sql, params, fetch), self.loop)
        return future.result(timeout=WAIT_SECONDS)

    def create(self, sql: str) -> None:
        self(sql, ())

    async def _run(self, sql: str, params: tuple[Any, ...], fetch: bool) -> Any:
        async with self.saver.lock:  # aiosqlite: one statement, committed
            cursor = await self.saver.conn.execute(sql, params)
            row = await cursor.fetchone() if fetch else None
            await self.saver.conn.commit()
            return row


class AsyncPostgresSql(AsyncSaverSql):
    """The AsyncPostgresSaver's connection or pool, its asyncio lock; each statement in its own transaction."""

    mark = "%s"
    blob = "BYTEA"

    def create(self, sql: str) -> None:
        import psycopg

        try:
            self(sql, ())
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable):
            pass  # created at the same moment by another process

    async def _run(self, sql: str, params: tuple[Any, ...], fetch: bool) -> Any:
        from psycopg import AsyncConnection

        conn = self.saver.conn
        async with self.saver.lock:
            if isinstance(conn, AsyncConnection):
                return await self._on(conn, sql, params, fetch)
            async with conn.connection() as pooled:  # a psycopg_pool AsyncConnectionPool
                return await self._on(pooled, sql, params, fetch)

    @staticmethod
    async def _on(conn: Any, sql: str, params: tuple[Any, ...], fetch: bool) -> Any:
        async with conn.transaction(), conn.cursor() as cur:
            await cur.execute(sql, params)
            return await cur.fetchone() if fetch else None


def async_sql(checkpointer: Any) -> AsyncSaverSql | None:
    """The statement runner of an async SQLite or Postgres saver, None for any other saver."""
    try:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    except ImportError:  # pragma: no cover - aiosqlite missing
        AsyncSqliteSaver = None  # type: ignore[assignment,misc]  # noqa: N806
    if AsyncSqliteSaver is not None and isinstance(checkpointer, AsyncSqliteSaver):
        return AsyncSaverSql(checkpointer)
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    except ImportError:  # pragma: no cover - the postgres package is not installed
        return None
    if isinstance(checkpointer, AsyncPostgresSaver):
        return AsyncPostgresSql(checkpointer)
    return None
