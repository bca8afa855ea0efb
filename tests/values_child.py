"""Child process for tests/test_values.py: resume a thread stopped at an approval, in a fresh interpreter,
and report whether every variable came back unchanged. Prints one JSON line."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from langgraph.types import Command  # noqa: E402
from test_values import expected_values, same, values_agent  # noqa: E402

from recode_graph.sandbox.plain import restore  # noqa: E402


def saver_for(db: str) -> Any:
    if db.startswith("postgres"):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection
        from psycopg.rows import dict_row

        conn: Any = Connection.connect(db, autocommit=True, prepare_threshold=0, row_factory=dict_row)
        return PostgresSaver(conn)
    from langgraph.checkpoint.sqlite import SqliteSaver

    return SqliteSaver(sqlite3.connect(db, check_same_thread=False))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)  # SQLite path or postgres:// URL
    parser.add_argument("--thread", required=True)
    args = parser.parse_args()
    agent = values_agent(saver_for(args.db))
    config = {"configurable": {"thread_id": args.thread}}
    out = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config)
    unchanged = sorted(name for name, value in expected_values().items()
                       if same(restore(out["variables"][name]), value))
    print(json.dumps({"status": out["status"], "answer": out["answer"], "same": unchanged}))


if __name__ == "__main__":
    main()
