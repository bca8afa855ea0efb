"""The fixed task sample of a benchmark run: seeded, stratified by task type, prefix-stable.

Tasks of each type are shuffled with the seed, the types are put in a seeded order, and the sample is
taken round-robin across the types: every type gets ``n // types`` or one more task (until a type runs
out), and the sample for ``n`` is the first ``n`` tasks of the sample for any larger ``n``.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_SPLITS = {"alfworld": "unseen", "sciworld": "unseen", "twx": "test", "webshop": "test"}


def task_type_of(env: str, task_id: str) -> str:
    """The task type of ``task_id`` without loading the task (the stratum of the sample)."""
    if env == "alfworld":
        from recode_graph.tools.alfworld import task_type_of as alfworld_type

        return alfworld_type(task_id) or "other"
    if env in ("sciworld", "twx"):
        return task_id.rpartition(":")[0] or "other"
    return "all"


def stratified_sample(tasks: Sequence[str], n: int, seed: int, env: str) -> list[dict[str, str]]:
    """``n`` tasks (all when ``n`` exceeds the split) as ``{"task_id", "task_type"}``, types interleaved."""
    if n < 1:
        raise ValueError(f"n must be a positive number of tasks, got {n}")
    groups: dict[str, list[str]] = {}
    for task in tasks:
        groups.setdefault(task_type_of(env, task), []).append(task)
    rng = random.Random(seed)
    order = sorted(groups)
    rng.shuffle(order)
    for kind in order:
        rng.shuffle(groups[kind])
    picked: list[dict[str, str]] = []
    depth = 0
    while len(picked) < n and any(depth < len(groups[k]) for k in order):
        for kind in order:
            if depth < len(groups[kind]) and len(picked) < n:
                picked.append({"task_id": groups[kind][depth], "task_type": kind})
        depth += 1
    return picked


def safe_name(task_id: str) -> str:
    """A file name for a task id (``/`` and ``:`` and other specials become ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(task_id)).strip("._") or "task"


def write_tasks(path: Path, *, env: str, split: str, n: int, seed: int, tasks: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"env": env, "split": split, "n": n, "seed": seed, "tasks": tasks}
    write_json(path, data)


def read_tasks(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` atomically (a crash never leaves a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str))
    tmp.replace(path)
