"""``recode show`` / ``recode graph``: a thread's tree and trajectory, the LangGraph graph."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from recode_graph.cli.common import EXIT_OK, CliError
from recode_graph.cli.episode import checkpointer
from recode_graph.cli.sanitize import check_thread, terminal_safe, terminal_text


def thread_state(saver: Any, thread: str) -> Any:
    from recode_graph import create_recode_agent
    from recode_graph.persistence.storage import latest, thread_config

    if latest(saver, thread) is None:
        raise CliError(f"unknown thread {thread!r}")
    return create_recode_agent(None, checkpointer=saver).get_state(thread_config(thread))


def show_json(thread: str, snapshot: Any) -> str:
    from recode_graph.persistence.threadstatus import finished

    values = snapshot.values or {}
    keys = ("status", "reason", "answer", "score", "task_id", "task_type", "instruction", "usage", "tree",
            "trajectory")
    out = {"thread": thread, **{k: values.get(k) for k in keys}, "next": list(snapshot.next),
           "finished": finished(snapshot), "interrupts": [i.value for i in snapshot.interrupts]}
    return json.dumps(out, indent=1, default=str)


def show_text(thread: str, snapshot: Any, out: TextIO) -> None:
    from recode_graph.engine.render import rich_tree, short, trajectory_lines, tree_lines
    from recode_graph.persistence.threadstatus import finished

    values = terminal_safe(snapshot.values or {})  # model-written text, printed without control sequences
    header = [f"thread: {thread}", f"task: {values.get('task_id') or '-'}",
              f"instruction: {short(values.get('instruction', ''), 300)}",
              f"status: {values.get('status')}  score: {values.get('score')}  reason: {values.get('reason') or '-'}"]
    if values.get("answer"):
        header.append(f"answer: {values['answer']}")
    if snapshot.next:
        header.append(f"waiting: {', '.join(snapshot.next)}"
                      + (" (an approval is pending)" if snapshot.interrupts else "") + f"; `recode resume {thread}`")
    elif not finished(snapshot):  # stopped right after a step (its writes pending), or stranded
        header.append(f"not finished (stopped between two steps); `recode resume {thread}`")
    lines = header + [""]
    if out.isatty():
        from rich.console import Console

        console = Console(file=out)
        for line in lines:
            console.print(line, markup=False, highlight=False)
        console.print(rich_tree(values.get("tree") or {}))
    else:
        print("\n".join(lines + tree_lines(values.get("tree") or {})), file=out)
    print("\ntrajectory:", file=out)
    print("\n".join(trajectory_lines(values.get("trajectory") or [])) or "(no primitive calls)", file=out)


def write_png(dot_text: str, path: str, instead: str) -> None:
    """Draw with graphviz; without it, the error names the text form this command offers (``instead``)."""
    from recode_graph.engine.render import RenderError
    from recode_graph.engine.render import write_png as render_png

    try:
        target = render_png(dot_text, path)
    except RenderError as exc:
        raise CliError(f"{exc}; for a text diagram instead run `{instead}`") from None
    print(f"wrote {target}")


def cmd_show(args: argparse.Namespace) -> int:
    from recode_graph.engine.render import mermaid, tree_dot

    check_thread(args.thread, "THREAD")
    with checkpointer(args.db, args.postgres, create=False) as saver:
        snapshot = thread_state(saver, args.thread)
    tree = (snapshot.values or {}).get("tree") or {}
    if args.png:
        write_png(tree_dot(tree), args.png, f"recode show {args.thread} --mermaid")
    elif args.mermaid:
        sys.stdout.write(terminal_text(mermaid(tree)))
    elif args.json:
        print(show_json(args.thread, snapshot))
    else:
        show_text(args.thread, snapshot, sys.stdout)
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    from recode_graph import create_recode_agent
    from recode_graph.engine.render import graph_dot

    drawable = create_recode_agent(None).get_graph()
    if args.png:
        write_png(graph_dot(drawable), args.png, "recode graph")
    else:
        sys.stdout.write(drawable.draw_mermaid())
    return EXIT_OK
