"""Benchmark summaries from the episode records of an output directory: JSON, markdown and PNG plots.

Layout read: ``<out>/<env>-<split>/tasks.json`` (the sample) and ``<out>/<env>-<split>/episodes/<agent>/
<task>.json`` (one record per finished episode). Only episodes of the current sample count. Rows are
grouped by environment, split, agent and model; a second table splits them by task type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from statistics import mean
from typing import Any

from recode_graph.bench.endings import describe, tally
from recode_graph.bench.prices import cost_usd, load_prices, price_key
from recode_graph.bench.sample import safe_name, write_json

TREE_KEYS = ("depth", "branching", "placeholder_share")


def load_records(out_dir: Path) -> list[dict[str, Any]]:
    """The records of every run directory under ``out_dir`` whose task is in that directory's sample."""
    records: list[dict[str, Any]] = []
    for tasks_file in sorted(Path(out_dir).glob("*/tasks.json")):
        sample = json.loads(tasks_file.read_text())
        wanted = {safe_name(t["task_id"]): t for t in sample.get("tasks", [])}
        for agent_dir in sorted((tasks_file.parent / "episodes").glob("*")):
            for path in sorted(agent_dir.glob("*.json")):
                if path.stem in wanted:
                    records.append(json.loads(path.read_text()))
    return records


def _avg(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return mean(vals) if vals else None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def grounding_of(record: Mapping[str, Any]) -> str:
    """The record's grounding mode (records written before grounding existed ran without it: 'off')."""
    return str(record.get("grounding") or "off")


def variant_of(record: Mapping[str, Any]) -> str:
    """How a ReAct record's agent differs from the windowed default: ``"full history"`` (it saw its whole
    conversation, ``history`` 0) and/or ``"repeat note"`` (``repeat_note``); ``""`` otherwise."""
    settings = record.get("settings") or {}
    if record.get("agent") != "react":
        return ""
    parts = (["full history"] if settings.get("history") == 0 else []) + \
        (["repeat note"] if settings.get("repeat_note") else [])
    return ", ".join(parts)


def agent_label(row: Mapping[str, Any]) -> str:
    """``recode`` for the paper's setting, ``recode (snap)`` with grounding; ``react, full history`` for a ReAct
    that saw its whole conversation, ``react, repeat note`` for one told about its repeated actions."""
    grounding = row.get("grounding") or "off"
    name = str(row["agent"]) + (f", {row['variant']}" if row.get("variant") else "")
    return name if grounding == "off" else f"{name} ({grounding})"


def group_row(records: list[dict[str, Any]], prices: Mapping[str, Mapping[str, float]],
              price_as: str | None = None) -> dict[str, Any]:
    """The figures of one group of episode records (cost at ``price_as``'s prices when given)."""
    first = records[0]
    n = len(records)
    usage = [r.get("usage") or {} for r in records]
    costs = [cost_usd(price_as or str(r.get("model", "")), u, prices) for r, u in zip(records, usage, strict=True)]
    priced = all(c is not None for c in costs)
    trees = [r["tree_stats"] for r in records if r.get("tree_stats") and r["tree_stats"].get("nodes")]
    row: dict[str, Any] = {
        "env": first["env"], "split": first["split"], "agent": first["agent"], "grounding": grounding_of(first),
        "variant": variant_of(first), "model": first.get("model", ""), "episodes": n,
        "errors": sum(1 for r in records if r.get("status") == "error"),
        "reward_pct": round(100 * mean(float(r.get("score") or 0.0) for r in records), 2),
        "success_pct": round(100 * mean(1.0 if r.get("won") else 0.0 for r in records), 2),
        "steps": round(mean(int(r.get("steps", 0)) for r in records), 2),
        "model_calls": round(mean(int(u.get("calls", 0)) for u in usage), 2),
        "input_tokens": round(mean(int(u.get("input_tokens", 0)) for u in usage), 1),
        "output_tokens": round(mean(int(u.get("output_tokens", 0)) for u in usage), 1),
        "cached_tokens": round(mean(int(u.get("cached_tokens", 0)) for u in usage), 1),
        "usd_per_episode": _round(mean(costs), 8) if priced else None,  # type: ignore[arg-type]
        "usd_total": _round(sum(costs), 6) if priced else None,  # type: ignore[arg-type]
        "wall_s_per_episode": round(mean(float(r.get("wall_seconds", 0.0)) for r in records), 3),
        "wall_s_total": round(sum(float(r.get("wall_seconds", 0.0)) for r in records), 2),
        "endings": tally(records),
    }
    for key in TREE_KEYS:
        row[f"tree_{key}"] = _round(_avg(float(t[key]) for t in trees), 3) if trees else None
    return row


def summarize(records: list[dict[str, Any]], prices: Mapping[str, Mapping[str, float]],
              planned: Mapping[tuple[str, str], int] | None = None, price_as: str | None = None) -> dict[str, Any]:
    """``{"rows": [...], "by_type": [...], "priced_as": ...}`` grouped by (env, split, agent, model) and task type.

    ``price_as`` prices every episode's tokens as that model's (e.g. a local run at gpt-4o-mini prices).
    """
    if price_as is not None and price_key(price_as, prices) is None:
        raise ValueError(f"--price-as {price_as!r} is not in the price table (have: {', '.join(sorted(prices))})")
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    typed: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in records:
        key = (r["env"], r["split"], r["agent"], grounding_of(r), str(r.get("model", "")), variant_of(r))
        groups.setdefault(key, []).append(r)
        typed.setdefault((*key, str(r.get("sample_type") or r.get("task_type") or "")), []).append(r)
    rows = []
    for key in sorted(groups):
        row = group_row(groups[key], prices, price_as)
        row["planned"] = (planned or {}).get((key[0], key[1]), row["episodes"])
        rows.append(row)
    by_type = []
    for key in sorted(typed):
        recs = typed[key]
        by_type.append({"env": key[0], "split": key[1], "agent": key[2], "grounding": key[3], "model": key[4],
                        "variant": key[5], "task_type": key[6],
                        "episodes": len(recs),
                        "reward_pct": round(100 * mean(float(r.get("score") or 0.0) for r in recs), 2),
                        "success_pct": round(100 * mean(1.0 if r.get("won") else 0.0 for r in recs), 2)})
    return {"rows": rows, "by_type": by_type, "priced_as": price_as}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2e}" if value else "0"


def markdown(summary: Mapping[str, Any], commands: list[str] | None = None) -> str:
    lines = ["# Benchmark summary", ""]
    if commands:
        lines += ["Commands:", "", "```", *commands, "```", ""]
    usd = f"USD/episode at {summary['priced_as']} prices" if summary.get("priced_as") else "USD/episode"
    lines += ["| env | split | agent | model | episodes | reward % | success % | steps | model calls | input tok "
              f"| output tok | cached tok | {usd} | USD total | wall s/episode | depth | branching "
              "| placeholder share |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        done = f"{r['episodes']}/{r['planned']}" + (f" ({r['errors']} errors)" if r["errors"] else "")
        lines.append(
            f"| {r['env']} | {r['split']} | {agent_label(r)} | {r['model']} | {done} | {_fmt(r['reward_pct'], 2)} "
            f"| {_fmt(r['success_pct'], 2)} | {_fmt(r['steps'])} | {_fmt(r['model_calls'])} "
            f"| {_fmt(r['input_tokens'], 0)} | {_fmt(r['output_tokens'], 0)} | {_fmt(r['cached_tokens'], 0)} "
            f"| {_usd(r['usd_per_episode'])} | {_usd(r['usd_total'])} | {_fmt(r['wall_s_per_episode'])} "
            f"| {_fmt(r['tree_depth'], 2)} | {_fmt(r['tree_branching'], 2)} "
            f"| {_fmt(r['tree_placeholder_share'], 2)} |")
    lines += ["", "How the episodes ended:", "", "| env | split | agent | model | endings |", "|---|---|---|---|---|"]
    for r in summary["rows"]:
        lines.append(f"| {r['env']} | {r['split']} | {agent_label(r)} | {r['model']} | {describe(r['endings'])} |")
    lines += ["", "Per task type (reward % / success %, episodes):", "",
              "| env | split | task type | agent | model | episodes | reward % | success % |",
              "|---|---|---|---|---|---|---|---|"]
    for r in summary["by_type"]:
        lines.append(f"| {r['env']} | {r['split']} | {r['task_type']} | {agent_label(r)} | {r['model']} "
                     f"| {r['episodes']} | {_fmt(r['reward_pct'], 2)} | {_fmt(r['success_pct'], 2)} |")
    priced = f"{summary['priced_as']}'s prices in " if summary.get("priced_as") else ""
    lines += ["", "Reward = mean final score x 100; success = share of won episodes. Tokens and steps are means "
              f"per episode; cost uses {priced}the price table (USD per 1M tokens, cached input at its own "
              "price). Tree columns (ReCode only): max depth, mean children per expanded node, share of "
              "placeholder nodes (paper Table 8). Agent (hint) / (snap): action grounding on (--grounding).", ""]
    return "\n".join(lines)


def plot(summary: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """``reward.png`` (reward by agent and env) and ``cost_reward.png`` (cost and tokens vs reward).

    Needs matplotlib; without it no plots are drawn (and an empty list is returned).
    """
    try:
        import matplotlib
    except ImportError:
        return []

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    if not rows:
        return []
    envs = sorted({f"{r['env']}-{r['split']}" for r in rows})
    agents = sorted({f"{agent_label(r)} ({r['model']})" for r in rows})
    width = 0.8 / max(1, len(agents))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.8 * len(envs) + 2), 4))
    for i, agent in enumerate(agents):
        xs, values = [], []
        for j, env in enumerate(envs):
            match = [r for r in rows
                     if f"{r['env']}-{r['split']}" == env and f"{agent_label(r)} ({r['model']})" == agent]
            if match:  # no bar where this agent has not run
                xs.append(j + (i - (len(agents) - 1) / 2) * width)
                values.append(match[0]["reward_pct"])
        bars = ax.bar(xs, values, width, label=agent, color=f"C{i}")
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(envs)), envs)
    ax.set_ylabel("average reward %")
    ax.set_ylim(0, 105)
    ax.set_title("Reward by agent and environment")
    ax.legend(fontsize=7)
    fig.tight_layout()
    reward_png = out_dir / "reward.png"
    fig.savefig(reward_png, dpi=120)
    plt.close(fig)

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    markers = "osD^v<>ph"
    for r in rows:
        label = f"{agent_label(r)} {r['env']}-{r['split']}"
        agent = f"{agent_label(r)} ({r['model']})"
        style = {"color": f"C{agents.index(agent)}",
                 "marker": markers[envs.index(f"{r['env']}-{r['split']}") % len(markers)]}
        tokens = (r["input_tokens"] or 0) + (r["output_tokens"] or 0)
        if r["usd_per_episode"] is not None:  # an unpriced model (the local one) has no cost to plot
            left.scatter([r["usd_per_episode"]], [r["reward_pct"]], label=label, **style)
        right.scatter([tokens], [r["reward_pct"]], **style)
        right.annotate(label, (tokens, r["reward_pct"]), fontsize=7)
    if any(r["usd_per_episode"] is not None for r in rows):
        left.legend(fontsize=7)
    else:
        left.text(0.5, 0.5, "no prices for these models:\nsee the tokens, or report with --price-as MODEL",
                  ha="center", va="center", transform=left.transAxes, fontsize=9)
    left.set_xlabel(f"USD per episode ({summary.get('priced_as') or 'price table'})")
    right.set_xlabel("tokens per episode (input + output)")
    for ax in (left, right):
        ax.set_ylabel("average reward %")
        ax.set_ylim(-5, 105)
    left.set_title("Cost vs reward")
    right.set_title("Tokens vs reward")
    fig.tight_layout()
    cost_png = out_dir / "cost_reward.png"
    fig.savefig(cost_png, dpi=120)
    plt.close(fig)
    return [reward_png, cost_png]


def planned_counts(out_dir: Path) -> dict[tuple[str, str], int]:
    out = {}
    for tasks_file in Path(out_dir).glob("*/tasks.json"):
        data = json.loads(tasks_file.read_text())
        out[(data["env"], data["split"])] = len(data.get("tasks", []))
    return out


def write_report(out_dir: Path, prices_path: str | Path | None = None, *, plots: bool = True,
                 price_as: str | None = None) -> dict[str, Any]:
    """Summarise ``out_dir`` into ``summary.json``, ``summary.md`` and (optionally) the two plots."""
    out_dir = Path(out_dir)
    prices = load_prices(prices_path)
    summary = summarize(load_records(out_dir), prices, planned_counts(out_dir), price_as)
    commands_file = out_dir / "commands.txt"
    commands = commands_file.read_text().splitlines() if commands_file.exists() else []
    write_json(out_dir / "summary.json", {**summary, "commands": commands})
    (out_dir / "summary.md").write_text(markdown(summary, commands))
    if plots:
        plot(summary, out_dir)
    return summary
