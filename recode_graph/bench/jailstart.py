"""What the OS jail costs per worker start.

    python -m recode_graph.bench.jailstart [--workers 40] [--rounds 3]

Starts ``--workers`` workers one after another in a pool with the jail off and in one with it on (alternating
``--rounds`` times, so both see the same machine load) and prints, per mode, the median and 90th percentile of
the time from the fork request to the worker's hello (the jail is applied in between), and the difference of
the medians. The zygote is started before timing (it is started once per pool).
"""

from __future__ import annotations

import argparse
import statistics
import time

from recode_graph.sandbox.workers import WorkerPool


def start_times(mode: str, workers: int) -> list[float]:
    """Milliseconds per worker start (fork request to hello) in a fresh pool with the jail ``mode``."""
    with WorkerPool(max_workers=1, prestart=0, jail=mode) as pool:
        pool._start().kill()  # the zygote and the first worker: not timed
        times = []
        for _ in range(workers):
            started = time.perf_counter()
            handle = pool._start()
            times.append((time.perf_counter() - started) * 1000)
            handle.kill()
        return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recode_graph.bench.jailstart", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=40, help="workers started per mode and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of off / on")
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(args.rounds):
        for mode in times:
            times[mode] += start_times(mode, args.workers)
    medians = {}
    for mode, values in times.items():
        medians[mode] = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"jail {mode:<3}: {len(values)} starts, median {medians[mode]:.1f} ms, p90 {p90:.1f} ms")
    print(f"jail cost per worker start (difference of medians): {medians['on'] - medians['off']:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
