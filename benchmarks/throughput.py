"""Throughput of ``recode bench``: episodes per second at 1, 8 and 32 concurrent episodes.

    python benchmarks/throughput.py [--latency 0.3] [--levels 1 8 32] [--episodes-per-worker 3] [--no-checkpoint]

A scripted model with a fixed latency per call (300 ms by default) replays each TextWorldExpress task's
gold path as ReCode expansions (3 model calls per episode: solve -> two sub-goals). The adapters (one JVM
each, about 1 s to start, slow until the JIT has warmed up) are created and warmed up front and handed to
the harness (``environments=``), so the figures are steady-state; the set-up time is printed separately.
cookingworld is left out: some of its tasks start with identical text, which a prompt-keyed script
cannot tell apart.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from recode_graph.tools import load_environment

from recode_graph import ScriptedChatModel, expansion
from recode_graph.bench.harness import run_bench
from recode_graph.bench.sample import stratified_sample
from recode_graph.engine.prompts import render_value

HALVES = {
    "first_half": expansion("first half", "for action in plan[:len(plan) // 2]:\n    observation = run(action)"),
    "second_half": expansion("second half", "for action in plan[len(plan) // 2:]:\n    observation = run(action)"),
}


def gold_model(plans: dict[str, list[str]], latency: float) -> ScriptedChatModel:
    """Expands solve() into `plan = <gold path>` plus two placeholders that replay its halves."""

    def responder(prompt: str) -> str:
        head = prompt.rsplit("Expand:", 1)[-1].split("\n", 1)[0]
        for name, answer in HALVES.items():
            if name in head:
                return answer
        for key, plan in plans.items():
            if key in prompt:
                return expansion("replay", f"plan = {plan!r}\nobservation = first_half(plan, observation)\n"
                                           "observation = second_half(plan, observation)")
        raise KeyError("unknown task")

    return ScriptedChatModel(responder=responder, latency=latency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--episodes-per-worker", type=int, default=3)
    parser.add_argument("--no-checkpoint", action="store_true", help="run without the harness's episode checkpoints")
    args = parser.parse_args()
    workers = max(args.levels)
    n = max(8, workers * args.episodes_per_worker)
    games = ("coin", "arithmetic", "sorting", "twc", "mapreader")
    options = {"games": games, "tasks_per_game": -(-n // len(games))}
    t0 = time.perf_counter()
    envs = [load_environment("twx", **options)]
    tasks = stratified_sample(envs[0].list_tasks(), n, 0, "twx")
    plans = {}
    for task in tasks:
        reset = envs[0].reset(task["task_id"])
        key = "observation = " + render_value(reset.observation)
        if key in plans:
            raise SystemExit(f"two tasks start with the same text ({task['task_id']}); use other games")
        plans[key] = envs[0].gold_actions()  # type: ignore[attr-defined]
    envs += [envs[0].spawn() for _ in range(workers - 1)]
    for env in envs[1:]:
        for task in tasks[:6]:  # JIT warm-up
            env.reset(task["task_id"])
            env.gold_actions()  # type: ignore[attr-defined]
    print(f"setup: {len(envs)} twx adapters started and {n} gold paths read in {time.perf_counter() - t0:.1f} s",
          flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; statements run in worker processes")
    print(f"{'concurrency':>11} {'episodes':>8} {'seconds':>8} {'episodes/s':>10} {'speed-up':>8} {'reward %':>8} "
          f"{'host cpu ms/episode':>19}")
    base_rate = None
    for level in args.levels:
        count = max(8, level * args.episodes_per_worker)
        with tempfile.TemporaryDirectory() as tmp:
            start, cpu = time.perf_counter(), time.process_time()
            result = run_bench("twx", "test", count, "recode", gold_model(plans, args.latency), level, Path(tmp),
                               environments=envs[:level], progress=False, plots=False,
                               checkpoint=not args.no_checkpoint)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        rate = count / seconds
        base_rate = base_rate or rate
        reward = result["summary"]["rows"][0]["reward_pct"]
        print(f"{level:>11} {count:>8} {seconds:>8.1f} {rate:>10.2f} {rate / base_rate:>7.1f}x {reward:>8.1f} "
              f"{cpu * 1000 / count:>19.0f}", flush=True)
    for env in envs:
        env.close()


if __name__ == "__main__":
    main()
