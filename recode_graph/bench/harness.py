"""``recode bench``: run ReCode or a baseline on a fixed, seeded task sample and summarise the results.

    recode bench --env alfworld --split unseen -n 12 --agent recode --model local --out benchmarks/run
    python -m recode_graph.bench --env twx -n 6 --agent react --model openai:gpt-4o-mini --out out

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

import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from recode_graph.bench import baselines, codeact, react
from recode_graph.bench.config import (
    CHECKPOINTED,
    BenchConfig,
    BenchError,
    Record,
    default_max_tokens,
    model_label,
    validate,
    with_max_tokens,
)
from recode_graph.bench.endings import ending
from recode_graph.bench.progress import Progress
from recode_graph.bench.records import base_record, carry_over, code_version, now_iso, one_line, recode_record
from recode_graph.bench.remote import run_on_server
from recode_graph.bench.report import write_report
from recode_graph.bench.sample import (
    DEFAULT_SPLITS,
    read_tasks,
    stratified_sample,
    write_json,
    write_tasks,
)


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
class Runner:
    """Runs episodes of one agent on one worker's environment adapter, one at a time."""

    def __init__(self, cfg: BenchConfig, model: BaseChatModel, env: Any, checkpointer: Any = None,
                 label: str = "") -> None:
        self.cfg, self.model, self.env = cfg, model, env
        self.slot = react.EnvSlot(env, note=cfg.repeat_note)
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
                result = await react.run_react(self.model, self.slot, task_id, max_model_calls=limit,
                                                   callbacks=[recorder], checkpointer=self.checkpointer,
                                                   thread_id=self.thread_id(task_id), history=self.cfg.history,
                                                   text_actions=self.cfg.react_format == "text")
                record = result.as_record()
            else:
                result = await asyncio.to_thread(codeact.run_codeact, self.model, self.env, task_id,
                                                 max_model_calls=limit, callbacks=[recorder])
                record = result.as_record()
        except Exception as exc:  # one failed episode must not stop the benchmark; it is retried on re-run
            self.graph = None  # a fresh graph (and environment pool) for the next episode
            record = {"status": "error", "reason": one_line(exc), "score": 0.0, "won": False, "steps": 0,
                      "usage": {}, **(recorder.calls() if self.cfg.agent == "recode" else {})}
            resumed = self.resuming or self.slot.resumed  # set by a ReCode / ReAct episode that resumed
            return {**record, "resumed": True} if resumed else record
        if self.cfg.agent == "recode":  # the baselines' records hold their whole conversation already
            record.update(recorder.calls())
        record["step_limit"] = self.env.step_limit
        return record


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
    from recode_graph.persistence.checkpointers import async_sqlite_saver

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
            start, started_at = time.perf_counter(), now_iso()
            record = await runner.run(task["task_id"])
            record.update(wall_seconds=round(time.perf_counter() - start, 3), started_at=started_at,
                          finished_at=now_iso())
            done(task, record)
            if record.get("status") != "error":
                await runner.forget(task["task_id"])

    try:
        await asyncio.gather(*(worker(i) for i in range(min(cfg.concurrency, len(todo)))))
    finally:
        for env in owned:
            await asyncio.to_thread(env.close)


# -- the run ------------------------------------------------------------------------------------------
async def arun_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Run the benchmark described by ``cfg``; returns ``{"summary", "ran", "skipped", "seconds", "dir"}``."""
    validate(cfg)
    label = cfg.model_name or model_label(cfg.model)
    cfg = replace(cfg, max_tokens=default_max_tokens(cfg, label))  # the cap in effect, in every record
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
                await run_on_server(cfg, todo, done)
            else:
                from recode_graph.models.resolve import resolve_model

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
