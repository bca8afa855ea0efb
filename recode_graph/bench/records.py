"""Episode records: the common fields, the code version that produced them, ReCode's outcome, and
carrying a cut-short attempt's counts into the record of its resumed run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recode_graph.bench.config import BenchConfig, Record


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def one_line(exc: BaseException) -> str:
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
                         **({"history": cfg.history, "react_format": cfg.react_format, "repeat_note": cfg.repeat_note}
                            if cfg.agent == "react" else {})}}


def recode_record(out: dict[str, Any], won: bool) -> Record:
    from recode_graph.engine.tree import stats

    tree = out.get("tree") or {}
    trajectory = out.get("trajectory") or []
    return {"status": out.get("status", ""), "reason": out.get("reason", ""), "answer": out.get("answer"),
            "score": float(out.get("score") or 0.0), "won": won, "instruction": out.get("instruction", ""),
            "task_type": out.get("task_type", ""), "steps": sum(1 for s in trajectory if s.get("name") == "run"),
            "usage": out.get("usage") or {}, "tree": tree, "tree_stats": stats(tree), "trajectory": trajectory}


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
