"""The engine's own cost next to plain LangGraph's, measured in one run on the same machine.

    python -m recode_graph.bench.engine [--nodes 60] [--repeat 3] [--episodes 32] [--latency 0.3] [--profile N]

Two measurements, each for this code (``create_recode_agent``, default worker pool, InMemorySaver) and for a plain
LangGraph ``StateGraph`` with equivalent nodes (``plain_graph``: an expand node that calls the same scripted model
and appends the answer's statements to a tree, an execute node that runs one statement, its tool call a LangGraph
``@task`` as ours are, the same depth-first routing; statements are evaluated in-process, with no sandbox, no
limits and no accounting):

1. **per code node** (``ainvoke``, zero-latency model, the tree of ``recode_graph.bench.overhead``: about
   ``--nodes`` nodes): host CPU ms per node (this process only; worker processes excluded), wall ms per node,
   bytes the checkpointer stored per node, supersteps;
2. **concurrent episodes** (``ainvoke``; each episode: 3 model calls of ``--latency`` s, 6 tool calls, 9
   statements): wall time of one episode, of ``--episodes`` at once, the speed-up (episodes x one / all), and
   host CPU per episode.

``--profile N`` instead prints where this code's host CPU goes: cProfile with a per-thread CPU clock around the
zero-latency episodes only (no history listing, no setup), the N functions with the most cumulative CPU.
(cProfile's cost per Python call overstates small functions; ``py-spy record --gil -f raw`` over a loop of
episodes samples the thread holding the GIL instead.) ``--stored`` instead prints what one episode of this
code stores per code node, part by part (``stored_parts``).
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import os
import re
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.func import task
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.bench.overhead import bump, memory_bytes, shaped_model

_EXECUTE = re.compile(r"<execute>\s*(.*?)\s*</execute>", re.S)
_STATEMENT = re.compile(r"^\s*(?:(\w+)\s*=\s*)?(\w+)\((.*)\)\s*$")


def probe_model(latency: float) -> ScriptedChatModel:
    """3 expansions, 6 tool calls, 9 statements."""
    model = ScriptedChatModel(by_call={
        "solve": expansion("two parts", "x = step_one(1)\ny = step_two(x)\nfinal_answer(str(y))"),
        "step_one": expansion("bump", "x = bump(1)\nx = bump(x)\nx = bump(x)"),
        "step_two": expansion("bump", "y = bump(x)\ny = bump(y)\ny = bump(y)")})
    model.latency = latency
    return model


# -- plain LangGraph, equivalent nodes ---------------------------------------------------------------------------
def _merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    out = dict(left or {})
    for key, value in (right or {}).items():
        out[key] = {**out.get(key, {}), **value} if isinstance(value, dict) and key in out else value
    return out


def _assign(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return {**(left or {}), **(right or {})}


class PlainState(TypedDict, total=False):
    tree: Annotated[dict[str, Any], _merge]
    variables: Annotated[dict[str, Any], _assign]
    trajectory: Annotated[list[Any], operator.add]
    cursor: str | None
    next_id: int
    answer: str | None


@task
def _bump_task(value: int) -> int:
    return int(bump.invoke({"value": value}))


def _next(tree: dict[str, Any], node_id: str) -> str | None:
    """Depth-first: the next sibling, else the parent's next sibling, ..."""
    while True:
        parent = tree[node_id].get("parent")
        if parent is None:
            return None
        siblings = tree[parent]["children"]
        index = siblings.index(node_id)
        if index + 1 < len(siblings):
            return siblings[index + 1]  # type: ignore[no-any-return]
        node_id = parent


def plain_graph(model: ScriptedChatModel, checkpointer: Any) -> Any:
    """A StateGraph doing what ours does per step, without the sandbox and the guarantees."""

    async def expand(state: PlainState) -> dict[str, Any]:
        node_id = state["cursor"] or "0"
        node = state["tree"][node_id]
        answer = await model.ainvoke([HumanMessage(f"Expand: {node['code']}\nVariables: {state['variables']}")])
        found = _EXECUTE.search(str(answer.content))
        lines = [line for line in (found.group(1) if found else "").splitlines() if line.strip()]
        first = state.get("next_id", 1)
        ids = [str(first + i) for i in range(len(lines))]
        tree = {i: {"id": i, "parent": node_id, "children": [], "code": line, "status": "pending"}
                for i, line in zip(ids, lines, strict=True)}
        tree[node_id] = {"children": ids, "status": "expanded"}
        return {"tree": tree, "cursor": ids[0] if ids else None, "next_id": first + len(ids)}

    async def execute(state: PlainState) -> dict[str, Any]:
        node_id = state["cursor"] or "0"
        tree = state["tree"]
        found = _STATEMENT.match(tree[node_id]["code"])
        target, name, arg = found.groups() if found else (None, "", "")
        value = eval(arg, {}, dict(state["variables"])) if arg else None  # noqa: S307 - benchmark only
        update: dict[str, Any] = {}
        if name == "final_answer":
            update["answer"] = str(value)
        elif name == "bump":
            value = await _bump_task(value)
            update["trajectory"] = [{"name": name, "args": {"value": value - 1}, "output": value, "node": node_id}]
        if target:
            update["variables"] = {target: value}
        update["tree"] = {node_id: {"status": "done", "stdout": ""}}
        update["cursor"] = None if name == "final_answer" else _next(tree, node_id)
        return update

    def route(state: PlainState) -> Literal["expand", "execute", "__end__"]:
        cursor = state.get("cursor")
        if cursor is None:
            return END
        node = state["tree"][cursor]
        found = _STATEMENT.match(node["code"])
        name = found.group(2) if found else ""
        if node["status"] == "pending" and (cursor == "0" or name not in ("bump", "final_answer")):
            return "expand"
        return "execute"

    def start(state: PlainState) -> dict[str, Any]:
        return {"tree": {"0": {"id": "0", "parent": None, "children": [], "code": "solve(instruction, observation)",
                               "status": "pending"}}, "cursor": "0", "next_id": 1,
                "variables": {"instruction": "benchmark", "observation": ""}, "trajectory": [], "answer": None}

    builder = StateGraph(PlainState)
    builder.add_node("start", start)
    builder.add_node("expand", expand)
    builder.add_node("execute", execute)
    builder.add_edge(START, "start")
    for source in ("start", "expand", "execute"):
        builder.add_conditional_edges(source, route)
    return builder.compile(checkpointer=checkpointer)


# -- measurements ------------------------------------------------------------------------------------------------
def _build(kind: str, model: ScriptedChatModel, saver: Any) -> Any:
    if kind == "recode":
        return create_recode_agent(model, tools=[bump], checkpointer=saver)
    return plain_graph(model, saver)


def per_node(kind: str, nodes: int, repeat: int) -> dict[str, float]:
    """Median host CPU and wall ms per code node, bytes stored per node, supersteps (zero-latency model)."""
    runs = []
    for index in range(repeat):
        saver = InMemorySaver()
        graph = _build(kind, shaped_model(nodes), saver)
        config = {"configurable": {"thread_id": f"{kind}-{index}"}, "recursion_limit": 10_000}
        t0, c0 = time.perf_counter(), time.process_time()
        out = asyncio.run(graph.ainvoke({"instruction": "benchmark"}, config))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        count = len(out["tree"])
        runs.append({"cpu": cpu * 1000 / count, "wall": wall * 1000 / count, "bytes": memory_bytes(saver) / count,
                     "steps": len(saver.storage[f"{kind}-{index}"][""]), "nodes": count})
    runs.sort(key=lambda r: r["cpu"])
    return runs[len(runs) // 2]


async def _episodes(kind: str, count: int, latency: float) -> tuple[float, float]:
    saver = InMemorySaver()
    graph = _build(kind, probe_model(latency), saver)
    t0, c0 = time.perf_counter(), time.process_time()
    outs = await asyncio.gather(*[graph.ainvoke({"instruction": "probe"}, {"configurable": {"thread_id": f"e{i}"}})
                                  for i in range(count)])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    answers = {str(o.get("answer")) for o in outs}
    if answers != {"7"}:
        raise RuntimeError(f"{kind}: unexpected answers {answers}")
    return wall, cpu


def concurrency(kind: str, episodes: int, latency: float) -> dict[str, float]:
    asyncio.run(_episodes(kind, episodes, latency))  # warm-up: imports, and as many workers as episodes
    one, _ = asyncio.run(_episodes(kind, 1, latency))
    many, cpu = asyncio.run(_episodes(kind, episodes, latency))
    return {"one_s": one, "all_s": many, "speedup": episodes * one / many, "cpu_ms": cpu * 1000 / episodes}


def stored_parts(nodes: int) -> tuple[int, dict[str, float]]:
    """Bytes InMemorySaver holds per code node for one zero-latency episode of about ``nodes`` nodes, by part: each
    field of the checkpoint records, their metadata, the blobs and the writes of each channel (a task's result
    is the channel ``__return__``). The parts add up to ``memory_bytes``."""
    saver = InMemorySaver()
    graph = _build("recode", shaped_model(nodes), saver)
    out = asyncio.run(graph.ainvoke({"instruction": "benchmark"}, {"configurable": {"thread_id": "stored"},
                                                                    "recursion_limit": 10_000}))
    count = len(out["tree"])
    parts: dict[str, float] = {}

    def add(name: str, size: int) -> None:
        parts[name] = parts.get(name, 0) + size / count

    for per_ns in saver.storage.values():
        for by_id in per_ns.values():
            for checkpoint, metadata, _parent in by_id.values():
                record = saver.serde.loads_typed(checkpoint)
                fields = {k: len(saver.serde.dumps_typed(v)[1]) for k, v in record.items()}
                for key, size in fields.items():
                    add(f"checkpoint: {key}", size)
                add("checkpoint: msgpack framing", len(checkpoint[1]) - sum(fields.values()))
                add("metadata", len(metadata[1]))
    for (_thread, _ns, channel, _version), blob in saver.blobs.items():
        add(f"blob: {channel}", len(blob[1]))
    for writes in saver.writes.values():
        for _task, channel, value, _path in writes.values():
            add(f"write: {channel}", len(value[1]))
    return count, dict(sorted(parts.items(), key=lambda kv: -kv[1]))


def profile(nodes: int, repeat: int, top: int) -> None:
    """cProfile (``time.thread_time``: the CPU of the thread that runs the graph loop and the nodes) around
    ``invoke`` of zero-latency episodes."""
    import cProfile
    import pstats

    per_node("recode", 10, 1)  # warm-up
    profiler = cProfile.Profile(time.thread_time)
    for index in range(repeat):
        graph = create_recode_agent(shaped_model(nodes), tools=[bump], checkpointer=InMemorySaver())
        profiler.enable()
        graph.invoke({"instruction": "benchmark"}, {"configurable": {"thread_id": f"profile-{index}"}})
        profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per model call in the concurrency probe")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the N costliest functions")
    parser.add_argument("--stored", action="store_true", help="print the bytes stored per code node, by part")
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.nodes, args.repeat, args.profile)
        return
    if args.stored:
        count, parts = stored_parts(args.nodes)
        out(f"| stored per code node ({count} nodes, InMemorySaver) | bytes |\n|---|---|")
        for name, size in parts.items():
            if size >= 0.5:
                out(f"| {name} | {size:.0f} |")
        out(f"| total | {sum(parts.values()):.0f} |")
        return
    out(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; InMemorySaver")
    per_node("recode", 10, 1)  # warm-up: starts the worker pool
    rows = {kind: per_node(kind, args.nodes, args.repeat) for kind in ("recode", "langgraph")}
    out("| per code node | host CPU ms | wall ms | stored bytes | supersteps | nodes |\n|---|---|---|---|---|---|")
    for kind, r in rows.items():
        out(f"| {kind} | {r['cpu']:.2f} | {r['wall']:.2f} | {r['bytes']:.0f} | {r['steps']:.0f} | {r['nodes']:.0f} |")
    out(f"| ratio | {rows['recode']['cpu'] / rows['langgraph']['cpu']:.1f}x | "
        f"{rows['recode']['wall'] / rows['langgraph']['wall']:.1f}x | "
        f"{rows['recode']['bytes'] / rows['langgraph']['bytes']:.1f}x | | |")
    out(f"\n| {args.episodes} concurrent episodes ({args.latency:g} s model calls) | one episode s | all s | speed-up "
        "| host CPU ms per episode |\n|---|---|---|---|---|")
    for kind in ("recode", "langgraph"):
        c = concurrency(kind, args.episodes, args.latency)
        out(f"| {kind} | {c['one_s']:.2f} | {c['all_s']:.2f} | {c['speedup']:.1f}x | {c['cpu_ms']:.0f} |")


if __name__ == "__main__":
    main()
