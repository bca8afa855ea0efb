"""Child process for the side-effect kill tests: one episode whose plan sends one e-mail through a tool marked
with side_effects(); it can die with SIGKILL at a chosen point around that call, resume, and answer the
uncertain-call interrupt. Every real send appends a line to --calls (flushed and fsynced before returning).
Prints {"interrupt": request | null, "status", "answer"} as JSON when it gets to the end of its invocation."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langchain_core.tools import tool  # noqa: E402
from langgraph.types import Command  # noqa: E402

from recode_graph import ScriptedChatModel, create_recode_agent, expansion, side_effects  # noqa: E402
from recode_graph.approvals import effects  # noqa: E402

POINTS = ("before-intent", "after-intent", "after-call", "after-result")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)  # SQLite path or postgres:// URL
    parser.add_argument("--thread", required=True)
    parser.add_argument("--calls", required=True)
    parser.add_argument("--kill", choices=POINTS, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--decide", default="")  # approve | respond:<text> | reject:<text>
    args = parser.parse_args()

    @tool
    def send_email(to: str, body: str, idempotency_key: str) -> str:
        """Send an email."""
        with open(args.calls, "a") as fh:
            fh.write(json.dumps({"to": to, "key": idempotency_key}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if args.kill == "after-call":
            die()  # the e-mail went out; its result was never stored
        return f"sent to {to}"

    log_class: Any = effects.PostgresLog if args.db.startswith("postgres") else effects.SqliteLog
    begin, finish = log_class.begin, log_class.finish

    def patched_begin(self: Any, *a: Any, **k: Any) -> None:
        if args.kill == "before-intent":
            die()
        begin(self, *a, **k)
        if args.kill == "after-intent":
            die()

    def patched_finish(self: Any, *a: Any, **k: Any) -> None:
        finish(self, *a, **k)
        if args.kill == "after-result":
            die()

    log_class.begin, log_class.finish = patched_begin, patched_finish

    if args.db.startswith("postgres"):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection
        from psycopg.rows import dict_row

        conn: Any = Connection.connect(args.db, autocommit=True, prepare_threshold=0, row_factory=dict_row)
        saver: Any = PostgresSaver(conn)
        saver.setup()
    else:
        from recode_graph.persistence.checkpointers import sqlite_saver

        saver = sqlite_saver(args.db)
    model = ScriptedChatModel(by_call={"solve": expansion("", "r = send_email('bob', 'hi')\nfinal_answer(r)")})
    graph = create_recode_agent(model, tools=[side_effects(send_email)], checkpointer=saver)
    config = {"configurable": {"thread_id": args.thread}}
    if args.decide:
        kind, _, message = args.decide.partition(":")
        decision: dict[str, Any] = {"type": kind, **({"message": message} if message else {})}
        payload: Any = Command(resume={"decisions": [decision]})
    else:
        payload = None if args.resume else {"instruction": "mail bob"}
    out = graph.invoke(payload, config)
    interrupts = out.get("__interrupt__") or []
    print(json.dumps({"interrupt": interrupts[0].value if interrupts else None, "status": out.get("status"),
                      "answer": out.get("answer")}))


if __name__ == "__main__":
    main()
