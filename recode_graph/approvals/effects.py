"""Tools with side effects run at most once, even across a kill -9.

Mark a tool with ``side_effects(tool)`` (or ``tool.metadata["recode_side_effects"] = True``). Environment
``run`` actions are not marked: they are replayed to rebuild the environment.

A marked call is not a LangGraph ``@task``: LangGraph writes a finished task's result from a background
thread, so a crash right after the call can lose it and the call runs again on resume. Instead the call goes
through an *effect log* that commits synchronously:

1. ``begin``: the intent (thread, idempotency key, tool, arguments) is committed before the tool runs;
2. the tool runs (with ``idempotency_key=`` when its signature takes one);
3. ``finish``: the result is committed before the generated code sees it.

On a re-run of the statement (after an interrupt or a crash) a call whose result is in the log returns it
without running; a call with an intent and no result is uncertain (it may or may not have happened), so the
run interrupts for a decision in the middleware's format: ``approve`` runs it again, ``respond`` supplies its
result (it does not run), ``reject`` fails the run.

Where the log lives: a table ``recode_side_effects`` in the checkpointer's own database (SqliteSaver: the
same SQLite file and connection; PostgresSaver: the same server and connection), so it is exactly as durable
as the checkpoints and needs no extra configuration; the checkpointer's ``put_writes`` is not usable for
this because its writes are the very ones that can be lost. InMemorySaver (and no checkpointer) keep the log
in memory: nothing survives the process there anyway. Other savers use the graph's store when there is one;
with neither, a marked tool refuses to run (no silent loss of the guarantee).

The idempotency key is ``{thread}/{node}/{call index}/{step}``: the thread, the tree node, the index of the
call within the statement, and a short hash of the LangGraph task that runs the statement (stable when the
same step is re-run after an interrupt or a crash, new when the statement is repaired or the thread forked).
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.errors import GraphBubbleUp

MARK = "recode_side_effects"
KEY_ARG = "idempotency_key"
TABLE = "recode_side_effects"
_SERDE = JsonPlusSerializer()


def side_effects(tool: BaseTool | Callable[..., Any]) -> BaseTool:
    """Mark ``tool`` (a LangChain tool or a documented function) as having side effects: at most once."""
    if not isinstance(tool, BaseTool):
        if not callable(tool):
            raise ValueError(f"side_effects() takes a tool or a function, got {type(tool).__name__}")
        tool = StructuredTool.from_function(tool)
    tool.metadata = {**(tool.metadata or {}), MARK: True}
    return tool


def has_side_effects(tool: BaseTool) -> bool:
    return bool((tool.metadata or {}).get(MARK))


def idempotency_key(thread: str, node: str, index: int, task_ns: str) -> str:
    step = hashlib.sha1(task_ns.encode()).hexdigest()[:10]
    return f"{thread}/{node}/{index}/{step}"


@dataclass
class Record:
    status: str  # "intent" | "done" | "error" (the tool raised; result = the error text)
    result: Any = None
    asks: int = 0  # decisions taken about this call after a crash (replayed in order on re-runs)


class EffectLog:
    """Intent and result of marked calls, committed synchronously. Subclasses store rows."""

    def get(self, thread: str, key: str) -> Record | None:
        raise NotImplementedError

    def begin(self, thread: str, key: str, tool: str, args: Any) -> None:
        raise NotImplementedError

    def finish(self, thread: str, key: str, result: Any, status: str = "done") -> None:
        raise NotImplementedError

    def count_ask(self, thread: str, key: str) -> None:
        raise NotImplementedError


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
            return None if row is None else Record(row.status, row.result, row.asks)

    def begin(self, thread: str, key: str, tool: str, args: Any) -> None:
        with self._lock:
            self._rows.setdefault((thread, key), Record("intent"))

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
    """The log as rows of one table; subclasses give the parameter mark and how a statement is executed
    (each statement is committed on its own)."""

    MARK = "?"

    def _execute(self, sql: str, params: tuple[Any, ...], fetch: bool = False) -> Any:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.MARK)

    def get(self, thread: str, key: str) -> Record | None:
        row = self._execute(self._sql(f"SELECT status, result_type, result, asks FROM {TABLE} "
                                      "WHERE thread_id = ? AND key = ?"), (thread, key), fetch=True)
        if row is None:
            return None
        values = list(row.values()) if isinstance(row, dict) else list(row)
        return Record(values[0], _load(values[1], values[2]), int(values[3]))

    def begin(self, thread: str, key: str, tool: str, args: Any) -> None:
        now = time.time()
        self._execute(self._sql(f"INSERT INTO {TABLE} (thread_id, key, tool, args, status, created_at, updated_at) "
                                "VALUES (?, ?, ?, ?, 'intent', ?, ?) ON CONFLICT (thread_id, key) DO NOTHING"),
                      (thread, key, tool, repr(args)[:4000], now, now))

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
        return Record(value["status"], result, int(value.get("asks", 0)))

    def begin(self, thread: str, key: str, tool: str, args: Any) -> None:
        if self._item(thread, key) is None:
            self.store.put((TABLE, thread), key, {"status": "intent", "tool": tool, "args": repr(args)[:4000],
                                                  "asks": 0})

    def finish(self, thread: str, key: str, result: Any, status: str = "done") -> None:
        kind, blob = _dump(result)
        value = self._item(thread, key) or {"asks": 0}
        self.store.put((TABLE, thread), key, {**value, "status": status, "result_type": kind, "result": blob.hex()})

    def count_ask(self, thread: str, key: str) -> None:
        value = self._item(thread, key) or {"status": "intent"}
        self.store.put((TABLE, thread), key, {**value, "asks": int(value.get("asks", 0)) + 1})


class EffectLogs:
    """One log per checkpointer (held weakly), built on first use. In-memory savers get one log per storage:
    ``langgraph dev`` hands each run a new saver object over the same storage."""

    def __init__(self) -> None:
        self._logs: weakref.WeakKeyDictionary[Any, EffectLog] = weakref.WeakKeyDictionary()
        self._memory: dict[int, tuple[Any, MemoryLog]] = {}  # id(storage) → (storage, log)
        self._lock = threading.Lock()

    def for_run(self, checkpointer: Any, store: Any) -> EffectLog:
        from langgraph.checkpoint.memory import InMemorySaver

        with self._lock:
            if checkpointer is None or isinstance(checkpointer, InMemorySaver):
                anchor = getattr(checkpointer, "storage", self)  # no checkpointer: as long as the graph lives
                held = self._memory.get(id(anchor))
                if held is None:
                    held = self._memory[id(anchor)] = (anchor, MemoryLog())
                return held[1]
            log = self._logs.get(checkpointer)
            if log is None:
                log = self._build(checkpointer, store)
                self._logs[checkpointer] = log
            return log

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


class ToolFailed(Exception):
    """A marked tool raised when it ran; a re-run of the statement raises the recorded error again."""


UNCERTAIN_DECISIONS = ("approve", "respond", "reject")


def uncertain_request(name: str, args: dict[str, Any], key: str) -> dict[str, Any]:
    """The interrupt for a call whose intent is stored but whose result is not (middleware format)."""
    description = (f"{name} has side effects and may already have run: its intent was stored before the "
                   f"process stopped, its result was not (idempotency key {key}).\n\nTool: {name}\nArgs: "
                   f"{args}\n\napprove: run it again; respond: give its result (it does not run); reject: fail "
                   "the run.")
    return {"action_requests": [{"name": name, "args": args, "description": description}],
            "review_configs": [{"action_name": name, "allowed_decisions": list(UNCERTAIN_DECISIONS)}],
            "side_effect": {"idempotency_key": key, "state": "intent stored, no result"}}


def call_once(log: EffectLog, thread: str, key: str, name: str, args: dict[str, Any], run: Callable[[], Any],
              ask: Callable[[dict[str, Any]], dict[str, Any]]) -> tuple[str, Any]:
    """Run a marked call at most once. Returns ("result", the call's record: ``{"output": ...}``, as ``run``
    returns it) or ("fail", reason).

    ``ask`` interrupts for a decision (``approval.ask``); decisions already taken about this call are asked
    again first, so the statement's interrupts keep their order on every re-run."""
    record = log.get(thread, key)
    if record is not None and (record.status == "intent" or record.asks):
        request = uncertain_request(name, args, key)
        for _ in range(record.asks):
            ask(request)  # answered before: returns the stored answer at once
        if record.status == "intent":
            decision = ask(request)
            log.count_ask(thread, key)
            if decision["type"] == "reject":
                reason = decision.get("message") or "the reviewer chose to fail the run"
                return "fail", f"{name}({args}) may have run before a crash; {reason}"
            if decision["type"] == "respond":
                given = {"output": decision["message"]}
                log.finish(thread, key, given)
                return "result", given
            record = None  # approve: run it again
    if record is None or record.status == "intent":
        log.begin(thread, key, name, args)
        try:
            output = run()
        except GraphBubbleUp:
            raise
        except Exception as exc:
            log.finish(thread, key, f"{type(exc).__name__}: {exc}", status="error")
            raise
        log.finish(thread, key, output)
        return "result", output
    if record.status == "error":
        raise ToolFailed(str(record.result))
    return "result", record.result
