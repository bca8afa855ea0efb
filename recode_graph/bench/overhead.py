"""Engine overhead per code node with a zero-latency scripted model.

    python -m recode_graph.bench.overhead [--sizes 10 60 200] [--repeat 3] [--executor workers|inprocess]

Prints, for InMemorySaver, SqliteSaver (default journal) and SqliteSaver in WAL mode
(``recode_graph.persistence.checkpointers.sqlite_saver``) and trees of about 10/60/200 nodes: milliseconds of engine
time per code node (model time is zero; with the default executor this includes each statement's round trip
to its worker process), the host process's CPU time per code node (what bounds throughput when many episodes
run at once), supersteps, and the bytes the checkpointer stored per episode.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.persistence.checkpointers import sqlite_saver


@tool
def bump(value: int) -> int:
    """Return value + 1."""
    return value + 1


def shaped_model(nodes: int) -> ScriptedChatModel:
    """Root → P placeholders → 7 tool statements each, about ``nodes`` nodes in all."""
    per = 7
    groups = max(1, round((nodes - 1) / (per + 1)))
    script = {"solve": expansion("split the work", "\n".join(f"v{g} = part_{g}({g})" for g in range(groups)))}
    for g in range(groups):
        body = [f"v{g} = bump({g})"] + [f"v{g} = bump(v{g})" for _ in range(per - 1)]
        script[f"part_{g}"] = expansion(f"part {g}", "\n".join(body))
    return ScriptedChatModel(by_call=script)


def sqlite_bytes(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        a = con.execute("select coalesce(sum(length(checkpoint)) + sum(length(metadata)), 0) "
                        "from checkpoints").fetchone()[0]
        b = con.execute("select coalesce(sum(length(value)), 0) from writes").fetchone()[0]
        return int(a + b)
    finally:
        con.close()


def memory_bytes(saver: InMemorySaver) -> int:
    total = 0
    for per_ns in saver.storage.values():
        for by_id in per_ns.values():
            for checkpoint, metadata, _parent in by_id.values():
                total += len(checkpoint[1]) + len(metadata[1])
    total += sum(len(v[1]) for v in saver.blobs.values())
    total += sum(len(w[2][1]) for writes in saver.writes.values() for w in writes.values())
    return total


def run_once(nodes: int, saver_kind: str, workdir: Path, index: int, executor: str = "workers") -> dict[str, Any]:
    model = shaped_model(nodes)
    path = workdir / f"bench-{saver_kind}-{nodes}-{index}.sqlite"
    saver: Any
    if saver_kind == "memory":
        saver = InMemorySaver()
    elif saver_kind == "sqlite-wal":
        saver = sqlite_saver(path)
    else:
        saver = SqliteSaver(sqlite3.connect(path, check_same_thread=False))
    graph = create_recode_agent(model, tools=[bump], checkpointer=saver, executor=executor)
    config = {"configurable": {"thread_id": f"bench-{index}"}}
    t0, c0 = time.perf_counter(), time.process_time()
    out = graph.invoke({"instruction": "benchmark"}, config)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert out["status"] == "success", out.get("reason")
    size = memory_bytes(saver) if saver_kind == "memory" else sqlite_bytes(path)
    return {"nodes": len(out["tree"]), "seconds": elapsed, "cpu": cpu, "bytes": size,
            "steps": len(list(graph.get_state_history(config)))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 60, 200])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--executor", choices=["workers", "inprocess"], default="workers")
    args = parser.parse_args(argv)
    print(f"executor: {args.executor}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'saver':10} {'nodes':>5} {'steps':>5} {'ms/node':>8} {'cpu ms/node':>11} {'KB/episode':>10} "
          f"{'bytes/node':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        run_once(10, "memory", Path(tmp), -1, args.executor)  # warm-up (starts the worker pool)
        for kind in ("memory", "sqlite", "sqlite-wal"):
            for size in args.sizes:
                runs = [run_once(size, kind, Path(tmp), i, args.executor) for i in range(args.repeat)]
                best = min(runs, key=lambda r: r["seconds"])
                ms = statistics.median(r["seconds"] for r in runs) * 1000 / best["nodes"]
                cpu = statistics.median(r["cpu"] for r in runs) * 1000 / best["nodes"]
                print(f"{kind:10} {best['nodes']:5d} {best['steps']:5d} {ms:8.2f} {cpu:11.2f} "
                      f"{best['bytes'] / 1024:10.1f} {best['bytes'] / best['nodes']:10.0f}")


if __name__ == "__main__":
    main()
