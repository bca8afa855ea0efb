"""``recode export-sft``: training data from benchmark episodes (paper §4.3, Tables 1 and 5).

    recode export-sft DIR --top 0.4 --out train.jsonl

Reads every episode record under DIR (``recode bench`` output), keeps the top fraction of episodes by
reward for each (environment, agent), and writes one chat example per model decision as JSONL
(``{"messages": [...], "meta": {...}}``):

- ReCode: one example per accepted expansion — the system and user messages exactly as the model saw them,
  with the few-shot examples removed from the system message (everything from its ``Examples:`` line),
  and the assistant message ``<think>thought</think>`` + ``<execute>code</execute>``. Answers that were
  rejected and re-asked are left out.
- ReAct / CodeAct baselines: one example per step — the conversation up to that step, ending with the
  assistant's message (with its tool call for ReAct).

Prints pairs and tokens per environment and agent, like the paper's Table 1. Tokens are estimated as
characters / 4 (no tokenizer files are needed).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

EXAMPLES_MARK = "\n\nExamples:\n"
REJECTED_MARK = "Your previous answer was rejected:"


def strip_examples(system: str) -> str:
    """The system prompt without its few-shot examples (the section that starts with ``Examples:``)."""
    if system.startswith("Examples:\n"):
        return ""
    head, sep, _ = system.partition(EXAMPLES_MARK)
    return head.rstrip() + "\n" if sep else system


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def load_episodes(root: Path) -> list[dict[str, Any]]:
    """Every episode record under ``root`` (files with an agent, an env and a score)."""
    out = []
    for path in sorted(Path(root).rglob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and {"agent", "env", "task_id"} <= data.keys() and "score" in data:
            data["_path"] = str(path)
            out.append(data)
    return out


def top_episodes(episodes: list[dict[str, Any]], top: float, min_reward: float | None = None
                 ) -> list[dict[str, Any]]:
    """The best ``top`` fraction (rounded up) of each (env, agent) group by score; errors never count."""
    import math

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for ep in episodes:
        if ep.get("status") == "error":
            continue
        if min_reward is not None and float(ep.get("score") or 0.0) < min_reward:
            continue
        groups.setdefault((ep["env"], ep["agent"]), []).append(ep)
    picked: list[dict[str, Any]] = []
    for key in sorted(groups):
        ranked = sorted(groups[key], key=lambda e: (-float(e.get("score") or 0.0),
                                                    int((e.get("usage") or {}).get("calls", 0)), str(e["task_id"])))
        picked += ranked[: math.ceil(top * len(ranked))]
    return picked


def recode_examples(episode: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """One chat example per accepted expansion of a ReCode episode."""
    from recode_graph.engine.code import InvalidExpansion, parse_answer

    systems: list[str] = episode.get("system_prompts") or []
    calls: list[dict[str, Any]] = episode.get("calls") or []
    for i, call in enumerate(calls):
        following = calls[i + 1]["user"] if i + 1 < len(calls) else ""
        if REJECTED_MARK in following:
            continue  # this answer was rejected and re-asked
        try:
            thought, code = parse_answer(call["assistant"])
        except InvalidExpansion:
            continue
        system = systems[call["system"]] if isinstance(call.get("system"), int) else str(call.get("system", ""))
        yield [{"role": "system", "content": strip_examples(system)},
               {"role": "user", "content": call["user"]},
               {"role": "assistant", "content": f"<think>{thought}</think>\n<execute>\n{code}\n</execute>"}]


def _openai_message(message: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message["role"], "content": message.get("content", "")}
    if message["role"] == "system":
        out["content"] = strip_examples(out["content"])
    if message.get("tool_calls"):
        out["tool_calls"] = [{"id": c.get("id", ""), "type": "function",
                              "function": {"name": c["name"], "arguments": json.dumps(c.get("args", {}))}}
                             for c in message["tool_calls"]]
    if message.get("tool_call_id"):
        out["tool_call_id"] = message["tool_call_id"]
    return out


def conversation_examples(episode: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """One chat example per assistant turn of a ReAct / CodeAct conversation (history up to that turn)."""
    messages = [_openai_message(m) for m in episode.get("messages") or []]
    for i, message in enumerate(messages):
        if message["role"] == "assistant" and (message.get("content") or message.get("tool_calls")):
            yield messages[: i + 1]


def examples_of(episode: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    if episode.get("calls") and episode.get("agent") == "recode":
        return recode_examples(episode)
    return conversation_examples(episode)


def example_tokens(messages: list[dict[str, Any]]) -> int:
    total = 0
    for m in messages:
        total += estimate_tokens(str(m.get("content") or ""))
        for call in m.get("tool_calls") or []:
            total += estimate_tokens(call["function"]["name"] + call["function"]["arguments"])
    return total


def export(root: Path, out: Path, top: float = 0.4, min_reward: float | None = None,
           agents: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Write the JSONL file; returns the Table-1 rows (env, agent, episodes, pairs, tokens).

    ``agents`` keeps only those agents' episodes (one file per agent for a data-efficiency comparison).
    """
    if not 0 < top <= 1:
        raise ValueError(f"--top must be a fraction in (0, 1], got {top}")
    if not Path(root).is_dir():
        raise ValueError(f"{root} is not a directory of benchmark records")
    episodes = load_episodes(root)
    if not episodes:
        raise ValueError(f"no episode records under {root} (run `recode bench ... --out {root}` first)")
    if agents:
        found = sorted({str(ep["agent"]) for ep in episodes})
        episodes = [ep for ep in episodes if ep["agent"] in agents]
        if not episodes:
            raise ValueError(f"no episodes of agent {', '.join(agents)} under {root} (found: {', '.join(found)})")
    chosen = top_episodes(episodes, top, min_reward)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for ep in chosen:
            row = rows.setdefault((ep["env"], ep["agent"]), {"env": ep["env"], "agent": ep["agent"], "episodes": 0,
                                                              "no_prompts": 0, "pairs": 0, "tokens": 0})
            row["episodes"] += 1
            found = 0
            for messages in examples_of(ep):
                found += 1
                row["pairs"] += 1
                row["tokens"] += example_tokens(messages)
                meta = {"env": ep["env"], "split": ep.get("split", ""), "agent": ep["agent"],
                        "task_id": ep["task_id"], "task_type": ep.get("sample_type") or ep.get("task_type", ""),
                        "score": ep.get("score"), "model": ep.get("model", "")}
                fh.write(json.dumps({"messages": messages, "meta": meta}, ensure_ascii=False) + "\n")
            if not found:
                row["no_prompts"] += 1
    return [rows[k] for k in sorted(rows)]


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [f"{'env':<10} {'agent':<8} {'episodes':>8} {'pairs':>7} {'tokens':>11} {'tokens/pair':>11}"]
    for r in rows:
        per = r["tokens"] / r["pairs"] if r["pairs"] else 0
        note = f"  ({r['no_prompts']} episodes without prompt records)" if r["no_prompts"] else ""
        lines.append(f"{r['env']:<10} {r['agent']:<8} {r['episodes']:>8} {r['pairs']:>7} {r['tokens']:>11,} "
                     f"{per:>11,.0f}{note}")
    lines.append("tokens: characters / 4 over all messages of each example")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="recode export-sft", description="Export chat training pairs from the top "
                                "episodes of `recode bench` output.")
    p.add_argument("dir", help="a `recode bench --out` directory (searched recursively)")
    p.add_argument("--top", type=float, default=0.4, help="fraction of episodes by reward, per env and agent")
    p.add_argument("--min-reward", type=float, default=None, help="also drop episodes scoring below this (0-1)")
    p.add_argument("--out", default="train.jsonl", help="output JSONL file")
    p.add_argument("--agent", action="append", default=None,
                   help="only this agent's episodes (recode, react, codeact; repeatable)")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        rows = export(Path(args.dir), Path(args.out), args.top, args.min_reward, args.agent)
    except ValueError as exc:
        print(f"recode export-sft: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(table(rows))
    print(f"wrote {sum(r['pairs'] for r in rows)} examples to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
