"""The host's CPU per statement in a sandbox worker (issue 35), through the public API (``WorkerPool.run``).

    python -m recode_graph.bench.roundtrip [--statements 400] [--rows 100000] [--profile N]

Runs ``--statements`` statements of one run in its worker and prints, for each case, the host's CPU per statement
(``time.thread_time`` of the calling thread: the worker process is excluded) and the wall time per statement:

- ``x = x + 1``: the round trip alone (request, wait, reply, its checks);
- ``x = bump(x)``: the same with one call back to a host function (a tool call's transport, not the tool);
- ``n = n + 1`` beside a ``--rows``-row list and a 2 MB text the statement does not name, and the same beside
  nothing: the ratio of their wall times shows whether a statement's cost grows with the rest of the state.

``--profile N``: cProfile (host thread CPU) of the first two cases, the N costliest functions.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

from recode_graph.sandbox.restricted import Limits
from recode_graph.sandbox.workers import WorkerPool

LIMITS = Limits(max_seconds=60, max_memory_mb=1024)


def per_statement(pool: WorkerPool, session: str, code: str, variables: dict[str, Any],
                  functions: dict[str, Callable[..., Any]], count: int,
                  profile: cProfile.Profile | None = None) -> tuple[float, float]:
    """(host CPU seconds, median wall seconds) per statement, after two statements that send the state once."""
    for _ in range(2):
        variables = pool.run(code, variables, functions, LIMITS, session=session).variables
    walls = []
    if profile is not None:
        profile.enable()
    cpu = time.thread_time()
    for _ in range(count):
        started = time.perf_counter()
        result = pool.run(code, variables, functions, LIMITS, session=session)
        walls.append(time.perf_counter() - started)
        if not result.ok:
            raise RuntimeError(result.error)
        variables = result.variables
    cpu = time.thread_time() - cpu
    if profile is not None:
        profile.disable()
    return cpu / count, statistics.median(walls)


def measure(statements: int, rows: int, profile: cProfile.Profile | None = None) -> dict[str, tuple[float, float]]:
    big = {"n": 0, "rows": [{"id": i, "name": f"row {i}", "tags": ["a", "b"]} for i in range(rows)],
           "text": "x" * 2_000_000}
    out: dict[str, tuple[float, float]] = {}
    with WorkerPool(max_workers=2, prestart=1) as pool:
        out["x = x + 1"] = per_statement(pool, "plain", "x = x + 1", {"x": 0}, {}, statements, profile)
        out["x = bump(x)"] = per_statement(pool, "call", "x = bump(x)", {"x": 0}, {"bump": lambda v: v + 1},
                                           statements, profile)
        count = max(statements // 10, 5)
        out[f"n = n + 1 beside {rows:,} rows"] = per_statement(pool, "big", "n = n + 1", big, {}, count)
        out["n = n + 1 beside nothing"] = per_statement(pool, "small", "n = n + 1", {"n": 0}, {}, count)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=400)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)
    profile = cProfile.Profile(time.thread_time) if args.profile else None
    out = measure(args.statements, args.rows, profile)
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile)
    print("| statement | host CPU us per statement | wall ms per statement (median) |\n|---|---|---|")
    for name, (cpu, wall) in out.items():
        print(f"| `{name}` | {cpu * 1e6:.0f} | {wall * 1e3:.2f} |")
    (_, big), (_, small) = list(out.values())[2:]
    print(f"big state / small state, wall: {big / small:.1f}x")


if __name__ == "__main__":
    main()
