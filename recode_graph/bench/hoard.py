"""Episodes that hoard state, through the public API: what they cost the host.

    python -m recode_graph.bench.hoard [--pattern variables|tool-arguments|reassign|prints|dicts|all]
        [--saver memory|none] [--state-mb 64] [--json]

Patterns (each a ``ScriptedChatModel`` episode in the default worker pool):

- ``variables``: 48 statements, each keeping an 8 MB string in a variable of its own;
- ``tool-arguments``: one statement calling a tool 40 times with a 9 MB argument (the trajectory keeps
  every call's arguments and output);
- ``reassign``: 150 statements each giving one variable a new 9 MB value (the checkpointer keeps every value
  it had: the episode's history, ``Limits.max_episode_bytes``);
- ``prints``: 3,000 statements each printing 1.2 KB (printed output is kept in the tree);
- ``dicts``: ``x = [{} for _ in range(1_000_000)]`` then 10 statements ``y = i`` (the host's CPU per statement
  must not grow with the items the state holds; ``host_cpu_after`` is the host CPU those 10 took).

When a repair is asked for, the model answers ``final_answer('repaired')``. Each pattern runs in a fresh
interpreter, so the host's peak RSS (``VmHWM``) is the pattern's own; printed per pattern: wall time, host
RSS at start and peak, how the episode ended and the first statement error (``Limits.max_state_bytes``,
``--state-mb``, turns hoarding into one). ``tests/test_hoard.py`` runs the same patterns.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from langchain_core.tools import tool

from recode_graph import Limits, ScriptedChatModel, create_recode_agent, expansion

MB = 2**20
PATTERNS = ("variables", "tool-arguments", "reassign", "prints", "dicts")
_MARKS: list[float] = []


def status_mb(field: str) -> float:
    """A field of this process's ``/proc/self/status`` in MB (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1024


@tool
def keep(text: str) -> int:
    """Keep ``text`` somewhere; returns its length."""
    return len(text)


@tool
def mark() -> int:
    """Note the host's CPU time now."""
    _MARKS.append(time.process_time())
    return len(_MARKS)


def code_for(pattern: str) -> str:
    if pattern == "variables":
        return "\n".join(f"v{i} = 'a' * {8 * MB - 1} + '{i % 10}'" for i in range(48))
    if pattern == "tool-arguments":
        return "for i in range(40):\n    keep('b' * 9_000_000 + str(i))"
    if pattern == "reassign":
        return "\n".join(f"x = 'a' * 9_000_000 + '{i}'" for i in range(150))
    if pattern == "prints":
        return "\n".join(f"print('{i % 10}' * 1200)" for i in range(3000))
    if pattern == "dicts":
        return "x = [{} for _ in range(1_000_000)]\nmark()\n" + "\n".join(f"y = {i}" for i in range(10)) + "\nmark()"
    raise ValueError(f"unknown pattern {pattern!r}: use one of {', '.join(PATTERNS)}")


def run_pattern(pattern: str, saver: str = "memory", state_mb: int = 64) -> dict[str, Any]:
    """Run one pattern in this process; what it cost and how it ended."""
    from langgraph.checkpoint.memory import InMemorySaver

    from recode_graph.bench.overhead import memory_bytes

    limits = Limits(max_seconds=120 if pattern == "dicts" else 30, max_state_bytes=state_mb * MB, max_lines=10**8)
    model = ScriptedChatModel(responses=[expansion("hoard", code_for(pattern)),
                                         expansion("repair", "final_answer('repaired')")])
    checkpointer = InMemorySaver() if saver == "memory" else None
    agent = create_recode_agent(model, [keep, mark], limits=limits, checkpointer=checkpointer, max_repairs=1)
    warm = ScriptedChatModel(responses=[expansion("", "x = keep('a')\nfinal_answer('ok')")])
    create_recode_agent(warm, [keep], limits=limits).invoke({"instruction": "warm up"})  # imports, the pool
    start_rss = status_mb("VmRSS")
    started = time.monotonic()
    out = agent.invoke({"instruction": "hoard"}, {"configurable": {"thread_id": "hoard"}, "recursion_limit": 10_000})
    seconds = time.monotonic() - started
    errors = [n["error"] for n in out["tree"].values() if n.get("error")]
    done = sum(1 for n in out["tree"].values() if n.get("status") == "done" and n.get("code"))
    return {"pattern": pattern, "saver": saver, "seconds": round(seconds, 2), "rss_start_mb": round(start_rss),
            "rss_peak_mb": round(status_mb("VmHWM")), "rss_end_mb": round(status_mb("VmRSS")),
            "status": out.get("status"), "answer": out.get("answer"), "statements_done": done,
            "steps": len(out.get("trajectory") or []), "variables": len(out.get("variables") or {}),
            "error": errors[0].splitlines()[-1][:300] if errors else "",
            "stored_mb": round(memory_bytes(checkpointer) / MB, 1) if checkpointer is not None else 0,
            "host_cpu_after": round(_MARKS[-1] - _MARKS[0], 2) if len(_MARKS) >= 2 else None}


def run_isolated(pattern: str, saver: str = "memory", state_mb: int = 64) -> dict[str, Any]:
    """``run_pattern`` in a fresh interpreter (its own peak RSS)."""
    done = subprocess.run([sys.executable, "-m", "recode_graph.bench.hoard", "--pattern", pattern, "--saver", saver,
                           "--state-mb", str(state_mb), "--json", "--here"], capture_output=True, text=True,
                          check=True, timeout=1200)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pattern", choices=[*PATTERNS, "all"], default="all")
    parser.add_argument("--saver", choices=["memory", "none"], default="memory")
    parser.add_argument("--state-mb", type=int, default=64, help="Limits.max_state_bytes in MB")
    parser.add_argument("--json", action="store_true", help="one JSON line per pattern")
    parser.add_argument("--here", action="store_true", help="run in this process (one pattern)")
    args = parser.parse_args(argv)
    patterns = PATTERNS if args.pattern == "all" else (args.pattern,)
    if not args.json:
        print("| pattern | saver | s | host RSS start / peak MB | stored MB | status | first statement error |\n"
              "|---|---|---|---|---|---|---|")
    for pattern in patterns:
        r = (run_pattern(pattern, args.saver, args.state_mb) if args.here else
             run_isolated(pattern, args.saver, args.state_mb))
        if args.json:
            print(json.dumps(r))
        else:
            print(f"| {pattern} | {r['saver']} | {r['seconds']:.1f} | {r['rss_start_mb']} / {r['rss_peak_mb']} | "
              f"{r['stored_mb']} | "
                  f"{r['status']} ({r['statements_done']} statements done, {r['steps']} calls kept) | "
                  f"{r['error'][:120] or '(none)'} |")


if __name__ == "__main__":
    main()
