"""Child process of tests/test_approval_binding.py: resumes a paused thread of the binding harness in a new
process (new sandbox workers: other heap addresses and string hash seed) from SQLite or Postgres, answers
until the run ends and prints the log of it as JSON."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from binding_harness import agent, drive  # noqa: E402


def saver_for(db: str) -> Any:
    if db.startswith("postgres"):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection
        from psycopg.rows import dict_row

        conn: Any = Connection.connect(db, autocommit=True, prepare_threshold=0, row_factory=dict_row)
        saver: Any = PostgresSaver(conn)
        saver.setup()
        return saver
    from recode_graph.persistence.checkpointers import sqlite_saver

    return sqlite_saver(db)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--thread", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--sends", required=True)
    args = parser.parse_args()
    graph = agent(args.seed, Path(args.sends), args.thread, saver_for(args.db), args.schema)
    log = drive(graph, {"configurable": {"thread_id": args.thread}}, "pending", random.Random(args.seed + 7),
                args.schema)
    print(json.dumps(log, default=str))


if __name__ == "__main__":
    main()
