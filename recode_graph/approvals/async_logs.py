"""The side-effect log (``recode_graph.approvals.effects``) in the database of an async saver.

``AsyncSqliteSaver`` and ``AsyncPostgresSaver`` hold an async connection bound to one event loop. A marked
tool call reaches the log from the thread that runs its statement (``nodes.execute.aexecute`` runs statements
off the loop), so each log statement is scheduled on the saver's loop and waited for, through the saver's own
lock, and committed before the call goes on: the same table and the same guarantee as the sync savers.
Called on the loop's own thread it would wait for itself, so that is a clear ``RuntimeError`` instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

from recode_graph.approvals.effects import _COLUMNS, TABLE, _SqlLog

WAIT_SECONDS = 120.0  # one committed row; a database that does not answer in this time fails the call


class _AsyncSqlLog(_SqlLog):
    def __init__(self, saver: Any) -> None:
        self.saver = saver
        self.loop: asyncio.AbstractEventLoop = saver.loop
        self._create()

    def _create(self) -> None:
        raise NotImplementedError

    async def _run(self, sql: str, params: tuple[Any, ...], fetch: bool) -> Any:
        raise NotImplementedError

    def _execute(self, sql: str, params: tuple[Any, ...], fetch: bool = False) -> Any:
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            raise RuntimeError(f"the side-effect log of {type(self.saver).__name__} was called on its event loop's "
                               "thread; marked tools must run from the statement's thread (ainvoke/astream)")
        future = asyncio.run_coroutine_threadsafe(self._run(sql, params, fetch), self.loop)
        return future.result(timeout=WAIT_SECONDS)


class AsyncSqliteLog(_AsyncSqlLog):
    """Rows in the AsyncSqliteSaver's database (aiosqlite connection, the saver's asyncio lock)."""

    def _create(self) -> None:
        self._execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({_COLUMNS.format(blob='BLOB')})", ())

    async def _run(self, sql: str, params: tuple[Any, ...], fetch: bool) -> Any:
        async with self.saver.lock:
            cursor = await self.saver.conn.execute(sql, params)
            row = await cursor.fetchone() if fetch else None
            await self.saver.conn.commit()
            return row


class AsyncPostgresLog(_AsyncSqlLog):
    """Rows in the AsyncPostgresSaver's database (its connection or pool, its asyncio lock)."""

    MARK = "%s"

    def _create(self) -> None:
        import psycopg

        try:
            self._execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({_COLUMNS.format(blob='BYTEA')})", ())
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


def async_log(checkpointer: Any) -> _SqlLog | None:
    """The log for an async SQLite or Postgres saver, None for any other saver."""
    try:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    except ImportError:  # pragma: no cover - aiosqlite missing
        AsyncSqliteSaver = None  # type: ignore[assignment,misc]  # noqa: N806
    if AsyncSqliteSaver is not None and isinstance(checkpointer, AsyncSqliteSaver):
        return AsyncSqliteLog(checkpointer)
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    except ImportError:  # pragma: no cover - the postgres package is not installed
        return None
    if isinstance(checkpointer, AsyncPostgresSaver):
        return AsyncPostgresLog(checkpointer)
    return None
