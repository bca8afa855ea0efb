"""Where threads live: one function builds the checkpointer (SQLite file or Postgres) for the CLI.

``open_checkpointer(db, postgres)`` is the single place that constructs a saver, so a wrapping saver
(e.g. compaction) can be added here once. The CLI's run settings travel in each checkpoint's metadata
under ``RUN_KEY`` (a JSON string), so ``recode resume`` can rebuild the same graph on either backend.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from recode_graph.paths import data_home

RUN_KEY = "recode_run"
DB_NAME = "threads.sqlite"
CONNECT_TIMEOUT = 5


class StorageError(RuntimeError):
    """A one-line, user-facing storage problem (unreachable server, missing database, unknown thread)."""


def default_db() -> Path:
    return data_home() / DB_NAME


def describe(db: str | None, postgres: str | None) -> str:
    """Human-readable location of the store (for messages)."""
    return _redact(postgres) if postgres else str(Path(db).expanduser() if db else default_db())


def _redact(url: str) -> str:
    """A Postgres URL without its password."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, creds = head.partition("//")
    user = creds.split(":", 1)[0]
    return f"{scheme}//{user}:***@{tail}"


@contextmanager
def open_checkpointer(db: str | None, postgres: str | None, *, create: bool = True
                      ) -> Iterator[BaseCheckpointSaver[Any]]:
    """A durable checkpointer: Postgres when ``postgres`` is a URL, else the SQLite file ``db`` (default
    under ``data_home()``). With ``create=False`` a missing SQLite file is an error, not a new database.
    Raises ``StorageError`` with one line."""
    if db and postgres:
        raise StorageError("use either --db or --postgres, not both")
    if postgres:
        with _postgres(postgres) as saver:
            yield saver
    else:
        with _sqlite(Path(db).expanduser() if db else default_db(), create) as saver:
            yield saver


@contextmanager
def _sqlite(path: Path, create: bool) -> Iterator[BaseCheckpointSaver[Any]]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    from recode_graph.persistence.checkpointers import connect_sqlite

    if not path.is_file():
        if not create:
            raise StorageError(f"no threads database at {path} (nothing has been run with this --db yet)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the directory for {path}: {exc.strerror or exc}") from None
    try:
        conn = connect_sqlite(path)
        saver = SqliteSaver(conn)
        saver.setup()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open SQLite database {path}: {exc}") from None
    try:
        yield saver
    finally:
        conn.close()


@contextmanager
def _postgres(url: str) -> Iterator[BaseCheckpointSaver[Any]]:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    try:
        conn: Any = psycopg.Connection.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row,
                                               connect_timeout=CONNECT_TIMEOUT)
    except (psycopg.Error, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StorageError(f"cannot connect to Postgres at {_redact(url)}: {first}") from None
    try:
        saver = PostgresSaver(conn)
        saver.setup()
    except psycopg.Error as exc:
        conn.close()
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StorageError(f"cannot set up checkpoint tables in Postgres at {_redact(url)}: {first}") from None
    try:
        yield saver
    finally:
        conn.close()


def thread_config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def latest(saver: BaseCheckpointSaver[Any], thread: str) -> Any:
    """The thread's latest checkpoint tuple, or None when the thread does not exist."""
    return saver.get_tuple(thread_config(thread))  # type: ignore[arg-type]


def recent_threads(saver: BaseCheckpointSaver[Any], limit: int) -> list[Any]:
    """The latest checkpoint tuple of each of the ``limit`` most recently written threads, newest first."""
    seen: dict[str, Any] = {}
    for found in saver.list(None):  # every thread's checkpoints, newest first (checkpoint ids grow with time)
        thread = str(found.config["configurable"]["thread_id"])
        if thread not in seen:
            seen[thread] = found
            if len(seen) >= limit:
                break
    return list(seen.values())


def run_settings(saver: BaseCheckpointSaver[Any], thread: str) -> dict[str, Any]:
    """The CLI run settings stored with ``thread``; ``StorageError`` for an unknown thread."""
    found = latest(saver, thread)
    if found is None:
        raise StorageError(f"unknown thread {thread!r}")
    raw = (found.metadata or {}).get(RUN_KEY)
    if not raw:
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def run_metadata(settings: dict[str, Any]) -> dict[str, str]:
    """Config ``metadata`` that stores ``settings`` in every checkpoint of a run."""
    return {RUN_KEY: json.dumps(settings, sort_keys=True)}
