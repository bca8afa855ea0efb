"""``recode bench``: run ReCode or a baseline on a fixed, seeded task sample and summarise the results.

    recode bench --env alfworld --split unseen -n 12 --agent recode --model local --out benchmarks/run
    python -m recode_graph.bench.harness --env twx -n 6 --agent react --model openai:gpt-4o-mini --out out

Output directory layout (several environments and agents can share one directory):

    <out>/<env>-<split>/tasks.json                     the sample: exact task ids, seed, n
    <out>/<env>-<split>/episodes/<agent>/<task>.json   one full record per finished episode
    <out>/summary.md, summary.json, reward.png, cost_reward.png, commands.txt

A re-run of the same command skips episodes that already have a record (errors are retried). ReCode and
ReAct episodes are checkpointed as they run (``<out>/<env>-<split>/checkpoints.sqlite``): an episode cut short by
a crash, a kill or a failed model call resumes from its last step on the re-run instead of starting over
(the environment is rebuilt by replaying the recorded actions); its checkpoints are deleted once its record
is written. Episodes run
concurrently on asyncio; each worker owns one environment adapter (``env.spawn()``) and runs its episodes
one after another. ``--server URL`` sends each episode to a LangGraph server as a thread instead.
Python API: ``run_bench(...)`` (or ``arun_bench`` inside a running event loop).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import shlex
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from recode_graph.bench import baselines
from recode_graph.bench.endings import ending
from recode_graph.bench.report import write_report
from recode_graph.bench.sample import (
    DEFAULT_SPLITS,
    read_tasks,
    safe_name,
    stratified_sample,
    write_json,
    write_tasks,
)
from recode_graph.tools.grounding import DEFAULT_GROUNDING, GROUNDING_MODES, check_mode, mode_of

AGENTS = ("recode", "react", "codeact")
DEFAULT_HISTORY = 10  # ReAct's window on the command line
CHECKPOINTED = frozenset({"recode", "react"})  # agents that are LangGraph graphs: resumable mid-episode
Record = dict[str, Any]


class BenchError(ValueError):
    """A one-line, user-facing problem with the benchmark's arguments."""


@dataclass
class BenchConfig:
    env: str
    split: str
    n: int
    agent: str
    model: str | BaseChatModel | None
    concurrency: int
    out_dir: Path
    seed: int = 0
    server: str | None = None
    max_depth: int = 10
    max_model_calls: int | None = None  # recode: 200; baselines: the task's step limit
    env_options: dict[str, Any] = field(default_factory=dict)
    prices: str | Path | None = None
    price_as: str | None = None  # summary cost at this model's prices (e.g. a local run priced as gpt-4o-mini)
    checkpoint: bool = True  # checkpoint ReCode / ReAct episodes so a cut-short one resumes mid-episode
    progress: bool = True
    plots: bool = True
    model_name: str | None = None  # label in records and price lookup (default: from the model)
    environments: Sequence[Any] | None = None  # ready adapters for the workers (kept open); more are spawned
    max_tokens: int | None = None  # cap on tokens per model answer (chat models with a max_tokens field)
    history: int = 0  # ReAct: show the model only its recent steps (a window; 0 = the whole conversation)
    grounding: str = "off"  # action grounding for every agent: off (the paper) | hint | snap (CLI default: snap)

    @property
    def run_dir(self) -> Path:
        return self.out_dir / f"{self.env}-{self.split}"

    @property
    def agent_dir(self) -> str:
        """``<agent>`` without grounding (the paper's setting), else ``<agent>-<grounding>``."""
        return self.agent if self.grounding == "off" else f"{self.agent}-{self.grounding}"

    def episode_path(self, task_id: str) -> Path:
        return self.run_dir / "episodes" / self.agent_dir / f"{safe_name(task_id)}.json"


def validate(cfg: BenchConfig) -> None:
    from recode_graph.tools import ADAPTERS

    if cfg.env not in ADAPTERS:
        raise BenchError(f"unknown environment {cfg.env!r}; available: {', '.join(ADAPTERS)}")
    if cfg.agent not in AGENTS:
        raise BenchError(f"unknown agent {cfg.agent!r}; available: {', '.join(AGENTS)}")
    if not isinstance(cfg.history, int) or isinstance(cfg.history, bool) or cfg.history < 0:
        raise BenchError(f"history must be a non-negative integer, got {cfg.history!r}")
    for name in ("n", "concurrency", "max_depth"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BenchError(f"{name} must be a positive integer, got {value!r}")
    try:
        check_mode(cfg.grounding)
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    if cfg.environments and any(mode_of(e) != cfg.grounding for e in cfg.environments):
        raise BenchError(f"environments= must be built with grounding={cfg.grounding!r}")
    if cfg.max_tokens is not None and cfg.max_tokens < 1:
        raise BenchError(f"max_tokens must be a positive integer, got {cfg.max_tokens!r}")
    if cfg.server and cfg.max_tokens:
        raise BenchError("--max-tokens applies to local runs; configure the served model instead")
    if cfg.max_model_calls is not None and cfg.max_model_calls < 1:
        raise BenchError(f"max_model_calls must be a positive integer, got {cfg.max_model_calls!r}")
    if cfg.environments and any(getattr(e, "name", cfg.env) != cfg.env for e in cfg.environments):
        raise BenchError(f"environments= must be {cfg.env!r} adapters")
    if cfg.server:
        if cfg.environments:
            raise BenchError("--server takes no local environments (the server builds them)")
        if importlib.util.find_spec("langgraph_sdk") is None:
            raise BenchError("--server needs langgraph-sdk: pip install langgraph-sdk")
        if cfg.agent != "recode":
            raise BenchError("--server runs the served ReCode graph; use --agent recode (baselines run locally)")
        if cfg.model is not None and not isinstance(cfg.model, str):
            raise BenchError("--server needs the model as a spec string (the server resolves it)")
        if cfg.env_options:
            raise BenchError("--server takes no environment options (the server builds the environment)")


def model_label(model: str | BaseChatModel | None) -> str:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    if model is None:
        from recode_graph.models import default_spec

        return default_spec()
    if isinstance(model, str):
        return model
    if isinstance(model, GenericFakeChatModel):
        return "scripted"
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def with_max_tokens(model: BaseChatModel, max_tokens: int) -> BaseChatModel:
    """A copy of ``model`` answering with at most ``max_tokens`` tokens."""
    if "max_tokens" not in type(model).model_fields:
        raise BenchError(f"--max-tokens: {type(model).__name__} has no max_tokens setting")
    return model.model_copy(update={"max_tokens": max_tokens})


# -- the sample ---------------------------------------------------------------------------------------
def prepare_sample(cfg: BenchConfig) -> list[dict[str, str]]:
    """The sample for (env, split, n, seed); written to ``tasks.json``."""
    from recode_graph.tools import load_environment

    if cfg.environments:
        tasks = cfg.environments[0].list_tasks(cfg.split)
    else:
        env = load_environment(cfg.env, **{"split": cfg.split, **_list_options(cfg)})
        if getattr(env, "data_note", None):
            print(f"recode bench: note: {env.data_note}", file=sys.stderr)
        try:
            tasks = env.list_tasks(cfg.split)
        finally:
            env.close()
    if not tasks:
        raise BenchError(f"{cfg.env}: split {cfg.split!r} has no tasks")
    sample = stratified_sample(tasks, cfg.n, cfg.seed, cfg.env)
    path = cfg.run_dir / "tasks.json"
    if path.exists():
        old = read_tasks(path)
        if old.get("tasks") == sample and old.get("seed") == cfg.seed:
            return sample
    write_tasks(path, env=cfg.env, split=cfg.split, n=cfg.n, seed=cfg.seed, tasks=sample)
    return sample


def _list_options(cfg: BenchConfig) -> dict[str, Any]:
    return {k: v for k, v in cfg.env_options.items() if k != "split"}


def finished(cfg: BenchConfig, task_id: str, label: str) -> bool:
    """True when the episode has a final record (an error record is retried)."""
    path = cfg.episode_path(task_id)
    if not path.exists():
        return False
    record = json.loads(path.read_text())
    if record.get("model") != label:
        raise BenchError(f"{path} was run with model {record.get('model')!r}, not {label!r}; use another --out")
    return record.get("status") != "error"


# -- episodes -----------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


def code_version() -> dict[str, Any]:
    """Which code produced a record: the package version and, in a git checkout, the commit (``dirty`` when
    the project's code, not its benchmark outputs, differs from it)."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    try:
        info: dict[str, Any] = {"version": version("recode-graph")}
    except PackageNotFoundError:
        info = {"version": "unknown"}
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--",
                                "recode_graph", "nodes", "tools", "pyproject.toml"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return info
    return {**info, "commit": commit, "dirty": bool(dirty)}


def base_record(cfg: BenchConfig, task: dict[str, str], label: str, code: dict[str, Any] | None = None) -> Record:
    return {"agent": cfg.agent, "env": cfg.env, "split": cfg.split, "model": label, "task_id": task["task_id"],
            "sample_type": task["task_type"], "seed": cfg.seed, "code": code or {}, "grounding": cfg.grounding,
            "settings": {"max_depth": cfg.max_depth, "max_model_calls": cfg.max_model_calls,
                         "max_tokens": cfg.max_tokens, "env_options": cfg.env_options, "server": cfg.server or "",
                         **({"history": cfg.history} if cfg.agent == "react" else {})}}


def recode_record(out: dict[str, Any], won: bool) -> Record:
    from recode_graph.tree import stats

    tree = out.get("tree") or {}
    trajectory = out.get("trajectory") or []
    return {"status": out.get("status", ""), "reason": out.get("reason", ""), "answer": out.get("answer"),
            "score": float(out.get("score") or 0.0), "won": won, "instruction": out.get("instruction", ""),
            "task_type": out.get("task_type", ""), "steps": sum(1 for s in trajectory if s.get("name") == "run"),
            "usage": out.get("usage") or {}, "tree": tree, "tree_stats": stats(tree), "trajectory": trajectory}


class Runner:
    """Runs episodes of one agent on one worker's environment adapter, one at a time."""

    def __init__(self, cfg: BenchConfig, model: BaseChatModel, env: Any, checkpointer: Any = None,
                 label: str = "") -> None:
        self.cfg, self.model, self.env = cfg, model, env
        self.slot = baselines.EnvSlot(env)
        self.graph: Any = None
        self.checkpointer, self.label = checkpointer, label
        self.resuming = False  # the current ReCode episode continues a checkpoint

    def thread_id(self, task_id: str) -> str:
        return f"bench/{self.cfg.agent}/{self.label}/{self.cfg.seed}/{task_id}"

    async def _recode(self, task_id: str, recorder: Any) -> Record:
        """A ReCode episode, resumed from its checkpoint when an earlier run of it was cut short."""
        config: dict[str, Any] = {"callbacks": [recorder]}
        inputs: dict[str, Any] | None = {"task_id": task_id}
        if self.checkpointer is not None:
            config["configurable"] = {"thread_id": self.thread_id(task_id)}
            snapshot = await self._graph().aget_state(config)
            if snapshot.next and snapshot.values.get("task_id") == task_id:
                inputs, self.resuming = None, True
        out = await self._graph().ainvoke(inputs, config)
        record = recode_record(out, bool(self.env.won))
        if self.resuming:
            record["resumed"] = True  # usage counts the whole episode; see carry_over for calls and time
        return record

    async def forget(self, task_id: str) -> None:
        """Drop a finished episode's checkpoints (its record is the durable result)."""
        if self.checkpointer is not None:  # only the CHECKPOINTED agents get one
            await self.checkpointer.adelete_thread(self.thread_id(task_id))

    def _graph(self) -> Any:
        if self.graph is None:
            from recode_graph import create_recode_agent

            kwargs: dict[str, Any] = {"max_depth": self.cfg.max_depth}
            if self.cfg.max_model_calls:
                kwargs["max_model_calls"] = self.cfg.max_model_calls
            self.graph = create_recode_agent(self.model, environment=self.env, checkpointer=self.checkpointer,
                                             **kwargs)
        return self.graph

    async def run(self, task_id: str) -> Record:
        recorder = baselines.CallRecorder()
        self.resuming = self.slot.resumed = False
        limit = self.cfg.max_model_calls
        try:
            if self.cfg.agent == "recode":
                record = await self._recode(task_id, recorder)
            elif self.cfg.agent == "react":
                result = await baselines.run_react(self.model, self.slot, task_id, max_model_calls=limit,
                                                   callbacks=[recorder], checkpointer=self.checkpointer,
                                                   thread_id=self.thread_id(task_id), history=self.cfg.history)
                record = result.as_record()
            else:
                result = await asyncio.to_thread(baselines.run_codeact, self.model, self.env, task_id,
                                                 max_model_calls=limit, callbacks=[recorder])
                record = result.as_record()
        except Exception as exc:  # one failed episode must not stop the benchmark; it is retried on re-run
            self.graph = None  # a fresh graph (and environment pool) for the next episode
            record = {"status": "error", "reason": _one_line(exc), "score": 0.0, "won": False, "steps": 0,
                      "usage": {}, **(recorder.calls() if self.cfg.agent == "recode" else {})}
            resumed = self.resuming or self.slot.resumed  # set by a ReCode / ReAct episode that resumed
            return {**record, "resumed": True} if resumed else record
        if self.cfg.agent == "recode":  # the baselines' records hold their whole conversation already
            record.update(recorder.calls())
        record["step_limit"] = self.env.step_limit
        return record


def carry_over(previous: Record | None, record: Record) -> Record:
    """A resumed episode's record with what its cut-short attempts spent: their model calls (prompts and
    answers, for export-sft) and wall time; ``attempts`` counts the runs."""
    if not previous or previous.get("status") != "error" or not record.get("resumed"):
        return record
    merged = {**record, "attempts": int(previous.get("attempts", 1)) + 1,
              "wall_seconds": round(float(previous.get("wall_seconds", 0.0)) + float(record.get("wall_seconds", 0.0)),
                                    3)}
    if "calls" in previous and "calls" in record:
        systems = list(previous.get("system_prompts") or [])
        calls = list(previous["calls"])
        for call in record["calls"]:
            system = record["system_prompts"][call["system"]]
            if system not in systems:
                systems.append(system)
            calls.append({**call, "system": systems.index(system)})
        merged.update(system_prompts=systems, calls=calls)
    if "started_at" in previous:
        merged["started_at"] = previous["started_at"]
    return merged


# Engines whose adapters share process state (ALFWorld: textworld's module-level PDDL parser, fast_downward
# and sys.argv during translation): their calls are serialised across the run's workers.
SERIAL_ENGINES = frozenset({"alfworld"})


class Serialized:
    """An adapter whose engine calls (reset, step, replay, close) hold a lock shared with its spawns."""

    def __init__(self, env: Any, lock: threading.Lock) -> None:
        self._env, self._lock = env, lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    def reset(self, task_id: str | int) -> Any:
        with self._lock:
            return self._env.reset(task_id)

    def step(self, action: str) -> str:
        with self._lock:
            return self._env.step(action)  # type: ignore[no-any-return]

    def replay(self, actions: list[str]) -> str:
        with self._lock:
            return self._env.replay(actions)  # type: ignore[no-any-return]

    def valid_actions(self) -> list[str]:
        with self._lock:
            return self._env.valid_actions()  # type: ignore[no-any-return]

    def close(self) -> None:
        with self._lock:
            self._env.close()

    def spawn(self) -> Serialized:
        return Serialized(self._env.spawn(), self._lock)


async def _run_local(cfg: BenchConfig, model: BaseChatModel, todo: list[dict[str, str]],
                     done: Callable[[dict[str, str], Record], None], label: str = "") -> None:
    if cfg.agent not in CHECKPOINTED or not cfg.checkpoint:
        await _run_workers(cfg, model, todo, done, None, label)
        return
    from recode_graph.checkpointers import async_sqlite_saver

    async with async_sqlite_saver(cfg.run_dir / "checkpoints.sqlite") as saver:
        await _run_workers(cfg, model, todo, done, saver, label)


async def _run_workers(cfg: BenchConfig, model: BaseChatModel, todo: list[dict[str, str]],
                       done: Callable[[dict[str, str], Record], None], checkpointer: Any, label: str) -> None:
    from recode_graph.tools import load_environment

    given = list(cfg.environments or [])
    base = given[0] if given else load_environment(cfg.env, split=cfg.split, grounding=cfg.grounding,
                                                   **_list_options(cfg))
    owned: list[Any] = [] if given else [base]  # adapters this run created and closes
    if cfg.env in SERIAL_ENGINES:
        lock = threading.Lock()
        given = [Serialized(env, lock) for env in given]
        base = given[0] if given else Serialized(base, lock)
        owned = [] if given else [base]
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    for task in todo:
        queue.put_nowait(task)

    async def worker(index: int) -> None:
        if index < len(given):
            env = given[index]
        elif index == 0:
            env = base
        else:
            env = base.spawn()
            owned.append(env)
        runner = Runner(cfg, model, env, checkpointer, label)
        while not queue.empty():
            task = queue.get_nowait()
            start, started_at = time.perf_counter(), _now()
            record = await runner.run(task["task_id"])
            record.update(wall_seconds=round(time.perf_counter() - start, 3), started_at=started_at,
                          finished_at=_now())
            done(task, record)
            if record.get("status") != "error":
                await runner.forget(task["task_id"])

    try:
        await asyncio.gather(*(worker(i) for i in range(min(cfg.concurrency, len(todo)))))
    finally:
        for env in owned:
            await asyncio.to_thread(env.close)


async def _run_server(cfg: BenchConfig, todo: list[dict[str, str]],
                      done: Callable[[dict[str, str], Record], None]) -> None:
    from langgraph_sdk import get_client

    client = get_client(url=cfg.server)
    context: dict[str, Any] = {"environment": cfg.env, "split": cfg.split, "max_depth": cfg.max_depth,
                               "grounding": cfg.grounding}
    if isinstance(cfg.model, str):
        context["model"] = cfg.model
    gate = asyncio.Semaphore(cfg.concurrency)

    async def one(task: dict[str, str]) -> None:
        async with gate:
            start, started_at = time.perf_counter(), _now()
            thread_id = ""
            try:
                thread = await client.threads.create(metadata={"bench": f"{cfg.env}-{cfg.split}/{cfg.agent}",
                                                               "task_id": task["task_id"]})
                thread_id = thread["thread_id"]
                values = await client.runs.wait(thread_id, "recode", input={"task_id": task["task_id"]},
                                                context=context, raise_error=True)
                if not isinstance(values, dict) or "status" not in values:
                    raise RuntimeError(f"server returned no final state: {str(values)[:200]}")
                record = recode_record(values, float(values.get("score") or 0.0) >= 1.0)
            except Exception as exc:
                record = {"status": "error", "reason": _one_line(exc), "score": 0.0, "won": False, "steps": 0,
                          "usage": {}}
            record["thread_id"] = thread_id
            record.update(wall_seconds=round(time.perf_counter() - start, 3), started_at=started_at,
                          finished_at=_now())
            done(task, record)

    await asyncio.gather(*(one(t) for t in todo))


# -- the run ------------------------------------------------------------------------------------------
class Progress:
    """A rich progress bar with the running mean reward (or nothing when disabled)."""

    def __init__(self, enabled: bool, title: str, total: int) -> None:
        self.bar: Any = None
        self.scores: list[float] = []
        if enabled and total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                    TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
            self.task = self.bar.add_task(title, total=total, info="")

    def __enter__(self) -> Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def advance(self, record: Record) -> None:
        self.scores.append(float(record.get("score") or 0.0))
        if self.bar is not None:
            mean = 100 * sum(self.scores) / len(self.scores)
            self.bar.update(self.task, advance=1, info=f"reward {mean:.1f}%  last: {record.get('status')}")


async def arun_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Run the benchmark described by ``cfg``; returns ``{"summary", "ran", "skipped", "seconds", "dir"}``."""
    validate(cfg)
    label = cfg.model_name or model_label(cfg.model)
    sample = prepare_sample(cfg)
    todo = [t for t in sample if not finished(cfg, t["task_id"], label)]
    started = time.perf_counter()

    if todo:
        code = code_version()

        def done(task: dict[str, str], result: Record) -> None:
            path = cfg.episode_path(task["task_id"])
            previous = json.loads(path.read_text()) if result.get("resumed") and path.exists() else None
            record = carry_over(previous, {**base_record(cfg, task, label, code), **result})
            record["ended"] = ending(record)
            write_json(path, record)
            progress.advance(record)

        with Progress(cfg.progress, f"{cfg.agent} {cfg.env}-{cfg.split}", len(todo)) as progress:
            if cfg.server:
                await _run_server(cfg, todo, done)
            else:
                from recode_graph.models import resolve_model

                model = cfg.model if isinstance(cfg.model, BaseChatModel) else resolve_model(cfg.model)
                if cfg.max_tokens:
                    model = with_max_tokens(model, cfg.max_tokens)
                await _run_local(cfg, model, todo, done, label)
    seconds = time.perf_counter() - started
    summary = write_report(cfg.out_dir, cfg.prices, plots=cfg.plots, price_as=cfg.price_as)
    return {"summary": summary, "ran": len(todo), "skipped": len(sample) - len(todo), "seconds": seconds,
            "dir": str(cfg.out_dir)}


def make_config(env: str, split: str | None = None, n: int = 20, agent: str = "recode",
                model: str | BaseChatModel | None = None, concurrency: int = 1, out_dir: str | Path = "bench-out",
                seed: int = 0, **options: Any) -> BenchConfig:
    """A validated ``BenchConfig``; ``options`` are its other fields (server, max_depth, env_options, ...)."""
    cfg = BenchConfig(env=env, split=split or DEFAULT_SPLITS.get(env, ""), n=n, agent=agent, model=model,
                      concurrency=concurrency, out_dir=Path(out_dir), seed=seed, **options)
    validate(cfg)
    return cfg


def run_bench(env: str, split: str | None = None, n: int = 20, agent: str = "recode",
              model: str | BaseChatModel | None = None, concurrency: int = 1, out_dir: str | Path = "bench-out",
              seed: int = 0, **options: Any) -> dict[str, Any]:
    """Run a benchmark and write its records and summary (blocking); see ``BenchConfig`` for ``options``.

    Returns ``{"summary": {"rows", "by_type"}, "ran", "skipped", "seconds", "dir"}``.
    """
    cfg = make_config(env, split, n, agent, model, concurrency, out_dir, seed, **options)

    return run_config(cfg)


def run_config(cfg: BenchConfig) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        # sync graph nodes, tools and baselines run in the loop's default executor: size it for the workers
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=cfg.concurrency + 4))
        return await arun_bench(cfg)

    return asyncio.run(main())


# -- command line -------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recode bench", description="Benchmark ReCode and baselines on a fixed task "
                                "sample; writes episode records, a summary table and plots.")
    p.add_argument("--env", required=True, help="alfworld, sciworld, twx or webshop")
    p.add_argument("--split", default=None, help="task split (default: unseen / test)")
    p.add_argument("-n", "--n", type=int, default=20, help="number of tasks (stratified by task type)")
    p.add_argument("--agent", default="recode", help="recode, react or codeact")
    p.add_argument("--model", default=None, help="model spec: local, openai:gpt-4o-mini, scripted:<fixture>, ...")
    p.add_argument("--concurrency", type=int, default=1, help="episodes run at once")
    p.add_argument("--out", default="bench-out", help="output directory (shared by runs; resumable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the task sample")
    p.add_argument("--server", default=None, help="LangGraph server URL: run each episode as a thread there")
    p.add_argument("--max-depth", type=int, default=10, help="ReCode depth limit")
    p.add_argument("--max-model-calls", type=int, default=None,
                   help="model calls per episode (default: ReCode 200, baselines the step limit)")
    p.add_argument("--step-limit", type=int, default=None, help="environment step limit (default: the env's)")
    p.add_argument("--grounding", default=DEFAULT_GROUNDING, choices=GROUNDING_MODES,
                   help=f"invalid actions, for every agent: off (the paper), hint (list the closest valid actions) "
                   f"or snap (run the one clearly closest valid action) (default: {DEFAULT_GROUNDING})")
    p.add_argument("--max-tokens", type=int, default=None, help="cap on tokens per model answer (default: none)")
    p.add_argument("--history", type=int, default=DEFAULT_HISTORY,
                   help="ReAct: steps of its conversation the model sees (a window of N to 2N-1 recent steps, moved "
                   f"N at a time so the prompt prefix stays cached; 0 = all) (default: {DEFAULT_HISTORY})")
    p.add_argument("--prices", default=None, help="price table JSON (default: recode_graph/prices.json)")
    p.add_argument("--price-as", default=None,
                   help="price every episode's tokens as this model's (e.g. gpt-4o-mini for a local run)")
    p.add_argument("--no-checkpoint", action="store_true",
                   help="do not checkpoint episodes (a cut-short episode then starts over on the re-run)")
    p.add_argument("--report-only", action="store_true", help="only rewrite the summary of --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true", help="no PNG plots")
    return p


def log_command(out: Path, argv: list[str]) -> None:
    """Append the command to ``<out>/commands.txt`` (shown in the summary) unless it is there already."""
    out.mkdir(parents=True, exist_ok=True)
    command = "recode bench " + " ".join(shlex.quote(a) for a in argv)
    log = out / "commands.txt"
    seen = log.read_text().splitlines() if log.exists() else []
    if command not in seen:
        log.write_text("\n".join([*seen, command]) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from recode_graph.models import ModelError
    from recode_graph.tools.base import EnvError

    try:
        if args.report_only:
            summary = write_report(Path(args.out), args.prices, plots=not args.no_plots, price_as=args.price_as)
            print((Path(args.out) / "summary.md").read_text())
            return 0 if summary["rows"] else 1
        options: dict[str, Any] = {"step_limit": args.step_limit} if args.step_limit else {}
        out = Path(args.out)
        cfg = make_config(args.env, args.split, args.n, args.agent, args.model, args.concurrency, out, args.seed,
                          server=args.server, max_depth=args.max_depth, max_model_calls=args.max_model_calls,
                          max_tokens=args.max_tokens, grounding=args.grounding, history=args.history,
                          env_options=options, prices=args.prices, price_as=args.price_as,
                          checkpoint=not args.no_checkpoint,
                          progress=not args.no_progress,
                          plots=not args.no_plots)
        log_command(out, list(sys.argv[1:] if argv is None else argv))
        result = run_config(cfg)
    except (BenchError, ModelError, EnvError, ValueError) as exc:
        print(f"recode bench: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(f"{result['ran']} episodes run, {result['skipped']} already done, {result['seconds']:.1f} s")
    print((out / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
