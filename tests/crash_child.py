"""Child process for the crash tests: run (or resume) one ALFWorld episode on a durable checkpointer and,
when asked, die with SIGKILL at a chosen point. Prints the final state as JSON when it gets there."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recode_graph.tools import load_environment  # noqa: E402

from recode_graph import create_recode_agent  # noqa: E402
from recode_graph.models.scripted import load_fixture  # noqa: E402


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)  # SQLite path or postgres:// URL
    parser.add_argument("--thread", required=True)
    parser.add_argument("--task", required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--kill-after-calls", type=int, default=0)
    parser.add_argument("--kill-after-actions", type=int, default=0)
    parser.add_argument("--log", default="")  # every real environment step is appended here
    args = parser.parse_args()

    model = load_fixture("alfworld_generic")
    env = load_environment("alfworld", split="seen")
    real_step = env.step
    steps = {"n": 0}

    def step(action: str) -> str:
        observation = real_step(action)
        steps["n"] += 1
        if args.log:
            with open(args.log, "a") as fh:
                fh.write(action + "\n")
        if args.kill_after_actions and steps["n"] == args.kill_after_actions:
            die()  # the action happened, its result was never recorded
        return observation

    env.step = step  # type: ignore[method-assign]
    if args.kill_after_calls:
        answer = model._answer

        def counted(prompt: str) -> str:
            if len(model.calls) >= args.kill_after_calls:
                die()  # k answers are checkpointed; the next model call never completes
            return answer(prompt)

        model._answer = counted  # type: ignore[method-assign]

    if args.db.startswith("postgres"):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection
        from psycopg.rows import dict_row

        conn: Any = Connection.connect(args.db, autocommit=True, prepare_threshold=0, row_factory=dict_row)
        saver: Any = PostgresSaver(conn)
        saver.setup()
    else:
        from langgraph.checkpoint.sqlite import SqliteSaver

        saver = SqliteSaver(sqlite3.connect(args.db, check_same_thread=False))
    graph = create_recode_agent(model, environment=env, checkpointer=saver)
    config = {"configurable": {"thread_id": args.thread}}
    out = graph.invoke(None if args.resume else {"task_id": args.task}, config)
    print(json.dumps({"status": out["status"], "score": out["score"],
                      "actions": [s["args"]["action"] for s in out["trajectory"]],
                      "calls": out["usage"]["calls"]}))
    env.close()


if __name__ == "__main__":
    main()
