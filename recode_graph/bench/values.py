"""What it costs to move a big variable through a checkpoint.

    python -m recode_graph.bench.values [--size 1000000] [--repeat 3]

For a dict of ``--size`` int keys to int values (what ``d = dict(zip(range(n), range(n)))`` makes), prints
the best of ``--repeat`` timings, in seconds, of each pass a changed variable takes: its checkpoint form in
the worker (``plain.to_checkpointable``), the bytes to the host (``wire.dumps``), the host's decoding and
check (``wire.loads``), LangGraph's checkpoint serializer both ways, and ``plain.restore`` (the next
statement's input); then ``encode``, the sum of the three passes from the statement's end to the state,
and one statement that builds the dict in a real worker process (``WorkerPool.run``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from recode_graph.sandbox import wire
from recode_graph.sandbox.plain import restore, to_checkpointable
from recode_graph.sandbox.restricted import Limits
from recode_graph.sandbox.workers import WorkerPool


def best(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - started)
    return min(times), out


def measure(size: int, repeat: int) -> dict[str, float]:
    value = dict(zip(range(size), range(size), strict=True))
    serde = JsonPlusSerializer()
    out: dict[str, float] = {}
    out["to_checkpointable"], (ok, plain) = best(lambda: to_checkpointable(value), repeat)
    assert ok
    message = {"t": "done", "changed": {"d": plain}}
    out["wire.dumps"], data = best(lambda: wire.dumps(message), repeat)
    out["wire.loads"], back = best(lambda: wire.loads(data), repeat)
    out["serde.dumps"], typed = best(lambda: serde.dumps_typed(back["changed"]), repeat)
    out["serde.loads"], _ = best(lambda: serde.loads_typed(typed), repeat)
    out["restore"], again = best(lambda: restore(plain), repeat)
    assert again == value
    out["encode"] = out["to_checkpointable"] + out["wire.dumps"] + out["wire.loads"]
    limits = Limits(max_seconds=60)
    with WorkerPool(max_workers=1, prestart=1) as pool:
        pool.run("x = 1", {}, {}, limits)
        code = f"d = dict(zip(range({size}), range({size})))"
        out["statement (worker)"], result = best(lambda: pool.run(code, {}, {}, limits), repeat)
        assert result.ok, result.error
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"dict of {args.size:,} int keys -> int values, best of {args.repeat} (seconds)")
    for name, seconds in measure(args.size, args.repeat).items():
        print(f"  {name:<20} {seconds:8.3f}")


if __name__ == "__main__":
    main()
