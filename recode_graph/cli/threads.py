"""``recode threads``: the stored threads (id, task, status, when), newest first, from the CLI's store."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from recode_graph.cli.common import EXIT_OK, CliError
from recode_graph.cli.episode import checkpointer, reader


def add_parser(sub: Any) -> None:
    threads = sub.add_parser("threads", help="list the stored threads (id, task, status, when), newest first")
    threads.add_argument("--limit", type=int, default=20, help="how many threads (default 20)")
    threads.add_argument("--json", action="store_true", help="one JSON object per thread")
    threads.add_argument("--db", metavar="FILE", help="SQLite file of threads (default: $RECODE_DATA_HOME or "
                         "~/.local/share/recode-graph/threads.sqlite)")
    threads.add_argument("--postgres", metavar="URL", help="the Postgres store instead")
    threads.set_defaults(handler=cmd_threads)


def task_of(settings: dict[str, Any], values: dict[str, Any]) -> str:
    from recode_graph.engine.render import short

    if settings.get("env"):
        task = values.get("task_id") or settings.get("task")
        return " ".join(str(part) for part in (settings["env"], settings.get("split"), task) if part)
    return short(settings.get("instruction") or values.get("instruction") or "-", 60)


def status_of(snapshot: Any) -> str:
    """success / failed, waiting (an approval is pending), or not finished (`recode resume` continues it)."""
    from recode_graph.persistence.threadstatus import finished

    values = snapshot.values or {}
    if finished(snapshot):
        return str(values.get("status"))
    return "waiting for an approval" if snapshot.interrupts else "not finished"


def when(found: Any) -> str:
    stamp = str((found.checkpoint or {}).get("ts") or "")
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return stamp or "-"


def cmd_threads(args: argparse.Namespace) -> int:
    import sys

    from recode_graph.persistence.storage import recent_threads, run_settings, thread_config

    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    if args.db and args.postgres:
        raise CliError("use either --db or --postgres, not both")
    with checkpointer(args.db, args.postgres, create=False) as saver:
        graph = reader(saver)
        rows = []
        for found in recent_threads(saver, args.limit):
            thread = str(found.config["configurable"]["thread_id"])
            snapshot = graph.get_state(thread_config(thread))
            settings = run_settings(saver, thread)
            rows.append({"thread": thread, "task": task_of(settings, snapshot.values or {}),
                         "status": status_of(snapshot), "when": when(found), "model": settings.get("model", "")})
    if args.json:
        for row in rows:
            print(json.dumps(row), file=sys.stdout)
        return EXIT_OK
    if not rows:
        print("no threads yet (recode run starts one)")
        return EXIT_OK
    widths = [max(len(str(r[k])) for r in [*rows, {"thread": "thread", "task": "task", "status": "status"}])
              for k in ("thread", "task", "status")]
    print(f"{'thread':<{widths[0]}}  {'task':<{widths[1]}}  {'status':<{widths[2]}}  when")
    for r in rows:
        print(f"{r['thread']:<{widths[0]}}  {r['task']:<{widths[1]}}  {r['status']:<{widths[2]}}  {r['when']}")
    return EXIT_OK
