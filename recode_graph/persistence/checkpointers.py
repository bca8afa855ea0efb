"""Durable checkpointers configured for this workload (many small writes, one per superstep)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver


def connect_sqlite(path: str | Path) -> sqlite3.Connection:
    """A connection for checkpoints: WAL journal, ``synchronous=NORMAL``, shareable across threads."""
    conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def sqlite_saver(path: str | Path) -> SqliteSaver:
    """A ``SqliteSaver`` on ``path`` in WAL mode with ``synchronous=NORMAL``: every step is committed and
    survives a crash of the process (kill -9); only an OS crash or power loss can drop the last commits.
    About 2x faster per step than SQLite's default rollback journal with a full fsync per commit."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SqliteSaver(connect_sqlite(path))


@asynccontextmanager
async def async_sqlite_saver(path: str | Path) -> AsyncIterator[Any]:
    """``AsyncSqliteSaver`` on ``path`` (WAL, ``synchronous=NORMAL``) for ``ainvoke``; closed on exit."""
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(str(path)) as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        yield AsyncSqliteSaver(conn)
