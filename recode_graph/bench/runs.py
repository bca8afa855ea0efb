"""What "a worker serves one run" and "a hash seed per thread" cost (issue 32).

    python -m recode_graph.bench.runs [--repeat 20]

Median wall milliseconds, on a ``WorkerPool`` with the jail as configured (``$RECODE_SANDBOX_JAIL``): a
statement in the run's kept worker; the first statement of a new run of a known thread (a clean worker forked
from the thread's zygote, none ready: the cost an episode pays when nothing was prestarted); the same with a
worker prestarted (what ``WorkerPool.prepare`` at the episode's start buys); the first statement of a new
thread in this process (its seed's zygote starts: an interpreter and the sandbox's imports).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from recode_graph.sandbox.handles import hash_seed
from recode_graph.sandbox.restricted import Limits
from recode_graph.sandbox.workers import WorkerPool

LIMITS = Limits(max_seconds=60)


def timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def measure(repeat: int) -> dict[str, float]:
    out: dict[str, list[float]] = {"statement, kept worker": [], "new run, fork on demand": [],
                                   "new run, prestarted worker": [], "new thread, zygote start": []}
    seed = hash_seed("bench-thread")
    with WorkerPool(max_workers=8, prestart=0, max_zygotes=2) as cold, \
            WorkerPool(max_workers=8, prestart=1, max_zygotes=2) as warm:
        assert cold.run("x = 1", {}, {}, LIMITS, session="warm-up", seed=seed).ok
        for i in range(repeat):
            out["statement, kept worker"].append(timed(lambda: cold.run("y = 2", {}, {}, LIMITS, "warm-up", seed)))
            out["new run, fork on demand"].append(timed(lambda i=i: cold.run("y = 2", {}, {}, LIMITS, f"r{i}", seed)))
            cold.end_run(f"r{i}")
            warm.prepare(seed)
            deadline = time.monotonic() + 30
            while not any(h.zygote.seed == seed for h in warm._fresh) and time.monotonic() < deadline:
                time.sleep(0.01)
            out["new run, prestarted worker"].append(timed(lambda i=i: warm.run("y = 2", {}, {}, LIMITS, f"r{i}",
                                                                                 seed)))
            warm.end_run(f"r{i}")
            if i < max(3, repeat // 4):  # each one starts an interpreter
                other = hash_seed(f"bench-thread-{i}")
                out["new thread, zygote start"].append(timed(lambda i=i, s=other: cold.run("y = 2", {}, {}, LIMITS,
                                                                                           f"t{i}", s)))
                cold.end_run(f"t{i}")
    return {name: statistics.median(values) for name, values in out.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; median ms of {args.repeat}")
    for name, ms in measure(args.repeat).items():
        print(f"  {name:<28} {ms:8.1f}")


if __name__ == "__main__":
    main()
