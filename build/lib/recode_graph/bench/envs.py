"""Environment adapter figures: median reset and step time, memory per instance, ScienceWorld step speed-up.

Run: ``python -m recode_graph.bench.envs`` (about a minute on 2 cores). WebShop needs a running server and
is skipped unless ``WEBSHOP_URL`` is set.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from recode_graph.tools import load_environment
from recode_graph.tools.procinfo import child_pids, rss_mb


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _memory(before_rss: float, before_java: set[int]) -> str:
    python = rss_mb() - before_rss
    java = sum(rss_mb(pid) for pid in set(child_pids("java")) - before_java)
    return f"python +{python:.0f} MiB, jvm {java:.0f} MiB"


def _row(name: str, reset_ms: float, step_ms: float, memory: str, note: str = "") -> None:
    print(f"{name:<10} reset {reset_ms:8.1f} ms   step {step_ms:7.2f} ms   {memory}  {note}")


def bench_alfworld() -> None:
    rss, java = rss_mb(), set(child_pids("java"))
    env = load_environment("alfworld", split="seen")
    tasks = env.list_tasks()
    cold = _median_ms(lambda: env.reset(tasks.pop(0)), 3)
    task = env.task_id
    warm = _median_ms(lambda: env.reset(task), 5)
    actions = iter(["look", "inventory"] * 10)
    step = _median_ms(lambda: env.step(next(actions)), 20)
    _row("alfworld", warm, step, _memory(rss, java), f"(first reset of a game {cold:.0f} ms)")
    env.close()


def bench_sciworld() -> None:
    from scienceworld import ScienceWorldEnv

    class PackageStep(ScienceWorldEnv):
        """The package's own step() on the adapter's simulator connection."""

        def __init__(self, api: Any) -> None:
            self.server, self.envStepLimit, self.lastStepScore = api, 10**6, 0
            self.variationIdx, self.simplificationStr, self.taskName = 0, "", ""

        def close(self) -> None:
            pass

    rss, java = rss_mb(), set(child_pids("java"))
    env = load_environment("sciworld", split="seen")
    task = "task-1-boil:0"
    start = time.perf_counter()
    env.reset(task)
    first = 1000 * (time.perf_counter() - start)
    reset = _median_ms(lambda: env.reset(task), 5)
    actions = ["look around", "open door to kitchen", "go to kitchen", "look around", "inventory",
               "go to hallway", "go to kitchen", "look at stove", "look around", "wait1"] * 2
    env.reset(task)
    it = iter(actions)
    fast = _median_ms(lambda: env.step(next(it)), len(actions))
    env.reset(task)
    package, it = PackageStep(env.server.api), iter(actions)
    slow = _median_ms(lambda: package.step(next(it)), len(actions))
    _row("sciworld", reset, fast, _memory(rss, java), f"(first reset incl. JVM start {first:.0f} ms)")
    print(f"{'':<10} sciworld step: package ScienceWorldEnv.step {slow:.1f} ms -> adapter {fast:.1f} ms "
          f"({slow / fast:.1f}x)")
    env.close()


def bench_twx() -> None:
    rss, java = rss_mb(), set(child_pids("java"))
    env = load_environment("twx")
    env.reset("coin:20000")
    reset = _median_ms(lambda: env.reset("coin:20000"), 10)
    actions = iter(["look around", "inventory"] * 25)
    step = _median_ms(lambda: env.step(next(actions)), 40)
    _row("twx", reset, step, _memory(rss, java))
    env.close()


def bench_webshop() -> None:
    url = os.environ.get("WEBSHOP_URL")
    if not url:
        print(f"{'webshop':<10} skipped (set WEBSHOP_URL to a running WebShop server)")
        return
    env = load_environment("webshop", url=url)
    reset = _median_ms(lambda: env.reset(0), 3)
    step = _median_ms(lambda: env.step("search[blue mug]"), 1)
    _row("webshop", reset, step, "(remote server)")


def main() -> None:
    print(f"python RSS at start {rss_mb():.0f} MiB")
    for bench in (bench_twx, bench_sciworld, bench_alfworld, bench_webshop):
        bench()


if __name__ == "__main__":
    main()
