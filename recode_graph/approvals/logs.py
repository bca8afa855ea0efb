"""Durable rows next to the checkpoints: the intents and results of side-effect calls
(``recode_graph.approvals.effects``) and the ledger of approval requests (``recode_graph.approvals.binding``).

Where the rows live: a table ``recode_side_effects`` in the checkpointer's own database (SqliteSaver: the same
SQLite file and connection; PostgresSaver: the same server and connection; their async savers likewise,
``recode_graph.approvals.async_logs``), so they are exactly as durable as
the checkpoints and need no extra configuration; the checkpointer's ``put_writes`` is not usable for this
because its writes are the very ones that can be lost. InMemorySaver (and no checkpointer) keep the rows in
memory: nothing survives the process there anyway. Other savers use the graph's store when there is one.
With neither, ``EffectLogs.for_run`` raises (a side-effect tool refuses to run) and ``EffectLogs.ledger`` falls
back to process memory (an approval answered in another process is then asked again, never applied blindly).

A row: thread, key, tool, args (text), status, result, asks. ``begin`` inserts once; ``mark`` inserts or
replaces tool, args and status.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

TABLE = "recode_side_effects"
_SERDE = JsonPlusSerializer()


@dataclass
class Record:
    status: str  # "intent" | "done" | "error" (the tool raised; result = the error text) | a ledger's status
    result: Any = None
    asks: int = 0  # decisions taken about this call after a crash (replayed in order on re-runs)
    tool: str = ""
    args: str = ""  # what ``begin``/``mark`` stored (text)


class EffectLog:
    """Rows committed synchronously. Subclasses store them."""

    def get(self, thread: str, key: str) -> Record | None:
        raise NotImplementedError

    def begin(self, thread: str, key: str, tool: str, args: Any) -> None:
        raise NotImplementedError

    def mark(self, thread: str, key: str, tool: str, args: str, status: str) -> None:
        raise NotImplementedError

    def finish(self, thread: str, key: str, result: Any, status: str = "done") -> None:
        raise NotImplementedError

    def count_ask(self, thread: str, key: str) -> None:
        raise NotImplementedError


def _text(args: Any) -> str:
    return (args if isinstance(args, str) else repr(args))[:4000]


def _dump(value: Any) -> tuple[str, bytes]:
    return _SERDE.dumps_typed(value)


def _load(kind: str | None, blob: bytes | None) -> Any:
    return None if kind is None or blob is None else _SERDE.loads_typed((kind, bytes(blob)))


class MemoryLog(EffectLog):
    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Record] = {}
        self._lock = threading.Lock()

    def get(self, thread: str, key: str) -> Record | None:
        with self._lock:
            row = self._rows.get((thread, key))
            return None if row is None else Record(row.status, row.result, row.asks, row.tool, row.args)

    def begin(self, thread: str, key: str, tool: str, args: Any) -> None:
        with self._lock:
            self._rows.setdefault((thread, key), Record("intent", tool=tool, args=_text(args)))

    def mark(self, thread: str, key: str, tool: str, args: str, status: str) -> None:
        with self._lock:
            row = self._rows.setdefault((thread, key), Record(status))
            row.tool, row.args, row.status = tool, _text(args), status

    def finish(self, thread: str, key: str, result: Any, status: str = "done") -> None:
        with self._lock:
            row = self._rows.setdefault((thread, key), Record("intent"))
            row.status, row.result = status, result

    def count_ask(self, thread: str, key: str) -> None:
        with self._lock:
            self._rows.setdefault((thread, key), Record("intent")).asks += 1


_COLUMNS = ("thread_id TEXT NOT NULL, key TEXT NOT NULL, tool TEXT NOT NULL, args TEXT NOT NULL, "
            "status TEXT NOT NULL, result_type TEXT, result {blob}, asks INTEGER NOT NULL DEFAULT 0, "
            "created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (thread_id, key)")


class _SqlLog(EffectLog):
    """The rows of one table; subclasses give the parameter mark and how a statement is executed (each
    statement is committed on its own)."""

    MARK = "?"

    def _execute(self, sql: str, params: tuple[Any, ...], fetch: bool = False) -> Any:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.MARK)

    def get(self, thread: str, key: str) -> Record | None:
        row = self._execute(self._sql(f"SELECT status, result_type, result, asks, tool, args FROM {TABLE} "
                                      "WHERE thread_id = ? AND key = ?"), (thread, key), fetch=True)
        if row is None:
            return None
        values = list(row.values()) if isinstance(row, dict) else list(row)
        return Record(values[0], _load(values[1], values[2]), int(values[3]), values[4], values[5])

    def begin(self, thread: str, key: str, tool: str, args: Any) -> None:
        now = time.time()
        self._execute(self._sql(f"INSERT INTO {TABLE} (thread_id, key, tool, args, status, created_at, updated_at) "
                                "VALUES (?, ?, ?, ?, 'intent', ?, ?) ON CONFLICT (thread_id, key) DO NOTHING"),
                      (thread, key, tool, _text(args), now, now))

    def mark(self, thread: str, key: str, tool: str, args: str, status: str) -> None:
        now = time.time()
        self._execute(self._sql(f"INSERT INTO {TABLE} (thread_id, key, tool, args, status, created_at, updated_at) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (thread_id, key) DO UPDATE SET "
                                "tool = excluded.tool, args = excluded.args, status = excluded.status, "
                                "updated_at = excluded.updated_at"),
                      (thread, key, tool, _text(args), status, now, now))

    def finish(self, thread: str, key: str, result: Any, status: str = "done") -> None:
        kind, blob = _dump(result)
        self._execute(self._sql(f"UPDATE {TABLE} SET status = ?, result_type = ?, result = ?, updated_at = ? "
                                "WHERE thread_id = ? AND key = ?"), (status, kind, blob, time.time(), thread, key))

    def count_ask(self, thread: str, key: str) -> None:
        self._execute(self._sql(f"UPDATE {TABLE} SET asks = asks + 1, updated_at = ? WHERE thread_id = ? AND key = ?"),
                      (time.time(), thread, key))


class SqliteLog(_SqlLog):
    """Rows in the SqliteSaver's database, through its connection and lock; each write is committed."""

    def __init__(self, conn: Any, lock: Any) -> None:
        self.conn, self.lock = conn, lock
        self._execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({_COLUMNS.format(blob='BLOB')})", ())

    def _execute(self, sql: str, params: tuple[Any, ...], fetch: bool = False) -> Any:
        with self.lock:
            cursor = self.conn.execute(sql, params)
            row = cursor.fetchone() if fetch else None
            self.conn.commit()
            return row


class PostgresLog(_SqlLog):
    """Rows in the PostgresSaver's database, through its connection (or pool); each write commits."""

    MARK = "%s"

    def __init__(self, conn: Any, lock: Any) -> None:
        self.conn, self.lock = conn, lock
        import psycopg

        try:
            self._execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({_COLUMNS.format(blob='BYTEA')})", ())
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable):
            pass  # created at the same moment by another process

    def _execute(self, sql: str, params: tuple[Any, ...], fetch: bool = False) -> Any:
        from psycopg import Connection

        with self.lock:
            if isinstance(self.conn, Connection):
                return self._on(self.conn, sql, params, fetch)
            with self.conn.connection() as conn:  # a psycopg_pool pool
                return self._on(conn, sql, params, fetch)

    @staticmethod
    def _on(conn: Any, sql: str, params: tuple[Any, ...], fetch: bool) -> Any:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone() if fetch else None


class RunnerLog(_SqlLog):
    """Rows through a statement runner with ``mark``, ``blob``, ``create`` (``approvals.async_logs``)."""

    def __init__(self, run: Any) -> None:
        self.run, self.MARK = run, run.mark
        run.create(f"CREATE TABLE IF NOT EXISTS {TABLE} ({_COLUMNS.format(blob=run.blob)})")

    def _execute(self, sql: str, params: tuple[Any, ...], fetch: bool = False) -> Any:
        return self.run(sql, params, fetch)


class StoreLog(EffectLog):
    """Rows as items of a LangGraph ``BaseStore`` (namespace ``("recode_side_effects", thread)``)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def _item(self, thread: str, key: str) -> dict[str, Any] | None:
        item = self.store.get((TABLE, thread), key)
        return None if item is None else dict(item.value)

    def get(self, thread: str, key: str) -> Record | None:
        value = self._item(thread, key)
        if value is None:
            return None
        result = _load(value.get("result_type"), bytes.fromhex(value["result"])) if value.get("result") else None
        return Record(value["status"], result, int(value.get("asks", 0)), str(value.get("tool", "")),
                      str(value.get("args", "")))

    def begin(self, thread: str, key: str, tool: str, args: Any) -> None:
        if self._item(thread, key) is None:
            self.store.put((TABLE, thread), key, {"status": "intent", "tool": tool, "args": _text(args), "asks": 0})

    def mark(self, thread: str, key: str, tool: str, args: str, status: str) -> None:
        value = self._item(thread, key) or {"asks": 0}
        self.store.put((TABLE, thread), key, {**value, "status": status, "tool": tool, "args": _text(args)})

    def finish(self, thread: str, key: str, result: Any, status: str = "done") -> None:
        kind, blob = _dump(result)
        value = self._item(thread, key) or {"asks": 0}
        self.store.put((TABLE, thread), key, {**value, "status": status, "result_type": kind, "result": blob.hex()})

    def count_ask(self, thread: str, key: str) -> None:
        value = self._item(thread, key) or {"status": "intent"}
        self.store.put((TABLE, thread), key, {**value, "asks": int(value.get("asks", 0)) + 1})


_SHARED_LOCK = threading.RLock()  # (re-entrant: a holder's finalizer may run during a collection under it)
_SHARED: dict[int, tuple[Any, MemoryLog, list[int]]] = {}  # id(storage) → (storage, log, [live holders])
_HOLDING: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()  # holder → storages it keeps


def _shared_log(storage: Any, *holders: Any) -> MemoryLog:
    """The log of an in-memory saver's storage, the same for every agent using it (an agent that resumes another's
    thread sees its records), kept while one of its holders (the savers over that storage, the agents' logs)
    lives."""
    with _SHARED_LOCK:
        held = _SHARED.get(id(storage))
        if held is None or held[0] is not storage:
            held = _SHARED[id(storage)] = (storage, MemoryLog(), [0])
        for holder in holders:
            kept = _HOLDING.setdefault(holder, set())
            if id(storage) not in kept:
                kept.add(id(storage))
                held[2][0] += 1
                weakref.finalize(holder, _holder_gone, id(storage), storage)
        return held[1]


def _holder_gone(key: int, storage: Any) -> None:
    with _SHARED_LOCK:
        held = _SHARED.get(key)
        if held is not None and held[0] is storage:
            held[2][0] -= 1
            if held[2][0] <= 0:
                del _SHARED[key]


class EffectLogs:
    """One log per checkpointer (held weakly), built on first use. In-memory savers get one log per storage,
    shared by every agent (``langgraph dev`` hands each run a new saver object over the same storage, and a new
    agent may resume a thread of the saver)."""

    def __init__(self) -> None:
        self._logs: weakref.WeakKeyDictionary[Any, EffectLog] = weakref.WeakKeyDictionary()
        self._memory: dict[int, tuple[Any, MemoryLog]] = {}  # id(storage) → (storage, log)
        self._fallback = MemoryLog()  # the approval ledger where no durable log exists
        self._lock = threading.Lock()

    def for_run(self, checkpointer: Any, store: Any) -> EffectLog:
        from langgraph.checkpoint.memory import InMemorySaver

        with self._lock:
            if isinstance(checkpointer, InMemorySaver):
                return _shared_log(checkpointer.storage, checkpointer, self)
            if checkpointer is None:
                anchor = self  # no checkpointer: as long as the graph lives
                held = self._memory.get(id(anchor))
                if held is None:
                    held = self._memory[id(anchor)] = (anchor, MemoryLog())
                return held[1]
            log = self._logs.get(checkpointer)
            if log is None:
                log = self._build(checkpointer, store)
                self._logs[checkpointer] = log
            return log

    def ledger(self, checkpointer: Any, store: Any) -> EffectLog:
        """Where approval requests are recorded: the durable log when there is one, else process memory."""
        try:
            return self.for_run(checkpointer, store)
        except RuntimeError:
            return self._fallback

    @staticmethod
    def _build(checkpointer: Any, store: Any) -> EffectLog:
        from langgraph.checkpoint.sqlite import SqliteSaver

        if isinstance(checkpointer, SqliteSaver):
            return SqliteLog(checkpointer.conn, checkpointer.lock)
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
        except ImportError:  # pragma: no cover - the postgres extra is not installed
            PostgresSaver = None  # type: ignore[assignment,misc]  # noqa: N806
        if PostgresSaver is not None and isinstance(checkpointer, PostgresSaver):
            return PostgresLog(checkpointer.conn, checkpointer.lock)
        from recode_graph.approvals.async_logs import async_sql  # AsyncSqliteSaver, AsyncPostgresSaver

        runner = async_sql(checkpointer)
        if runner is not None:
            return RunnerLog(runner)
        if store is not None:
            return StoreLog(store)
        raise RuntimeError(f"a tool marked with side_effects() needs a durable log for its intents, and "
                           f"{type(checkpointer).__name__} offers none: use SqliteSaver, PostgresSaver (or their async "
                           "savers) or "
                           "InMemorySaver, or give the graph a store")
