"""What a LangGraph ``@task`` costs under ``ainvoke``, awaited in an async node or called from a thread.

    python -m recode_graph.bench.taskpath [--steps 200] [--repeat 5]

A one-node graph loops ``--steps`` supersteps (InMemorySaver), its node in four shapes: ``await task`` (an async
node awaits a ``@task``: what a plain LangGraph tool step does), ``thread + task`` (the node runs its work on a
thread pool and the work calls the task and waits for its result: what ``execute`` does under ``ainvoke``, the
statement's primitive calls coming back from the sandbox on the agent's threads), ``thread only`` (the hop to
the thread, no task) and ``no task``. Prints host CPU ms per superstep (min and median of ``--repeat`` runs), so
the price of each part is the difference of two rows, measured in one process at the same moment.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextvars
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.func import task
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict


class Count(TypedDict):
    n: int
    stop: int


@task
def _inc(value: int) -> int:
    return value + 1


_POOL = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="taskpath")


async def _await_task(state: Count) -> dict[str, int]:
    return {"n": await _inc(state["n"])}


async def _thread_task(state: Count) -> dict[str, int]:
    def work() -> dict[str, int]:
        return {"n": _inc(state["n"]).result()}

    return await asyncio.get_running_loop().run_in_executor(_POOL, contextvars.copy_context().run, work)


async def _thread_only(state: Count) -> dict[str, int]:
    def work() -> dict[str, int]:
        return {"n": state["n"] + 1}

    return await asyncio.get_running_loop().run_in_executor(_POOL, contextvars.copy_context().run, work)


async def _no_task(state: Count) -> dict[str, int]:
    return {"n": state["n"] + 1}


SHAPES: dict[str, Callable[[Count], Awaitable[dict[str, int]]]] = {
    "await task": _await_task, "thread + task": _thread_task, "thread only": _thread_only, "no task": _no_task}


def _route(state: Count) -> str:
    return END if state["n"] >= state["stop"] else "work"


def graph(node: Callable[[Count], Awaitable[dict[str, int]]]) -> Any:
    builder = StateGraph(Count)
    builder.add_node("work", node)
    builder.add_edge(START, "work")
    builder.add_conditional_edges("work", _route)
    return builder.compile(checkpointer=InMemorySaver())


async def per_step(shape: str, steps: int, repeat: int) -> list[float]:
    """Host CPU ms per superstep of each run (the first, a warm-up, not counted)."""
    compiled = graph(SHAPES[shape])
    runs = []
    for index in range(repeat + 1):
        config = {"configurable": {"thread_id": f"{shape}-{index}"}, "recursion_limit": steps + 10}
        c0 = time.process_time()
        out = await compiled.ainvoke({"n": 0, "stop": steps}, config)
        if out["n"] != steps:
            raise RuntimeError(f"{shape}: counted to {out['n']}, not {steps}")
        runs.append((time.process_time() - c0) * 1000 / steps)
    return sorted(runs[1:])


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    out(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.steps} supersteps, InMemorySaver")
    out("| node | host CPU ms per superstep, min | median |\n|---|---|---|")
    for shape in SHAPES:
        runs = asyncio.run(per_step(shape, args.steps, args.repeat))
        out(f"| {shape} | {runs[0]:.3f} | {runs[len(runs) // 2]:.3f} |")


if __name__ == "__main__":
    main()
