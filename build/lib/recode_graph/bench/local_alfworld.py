"""Seconds per expansion and prefix-cache hit rate of the local model on real ALFWorld games.

    python -m recode_graph.bench.local_alfworld [--model local] [--games 3] [--max-calls 8]

Runs the first ``--games`` games of the unseen split (at most ``--max-calls`` model calls each) with the
full agent and prints, per game and overall: model calls, seconds per expansion (cold first call and warm
median), prompt tokens and the share served from llama.cpp's prefix cache, and the episode's result.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from recode_graph import create_recode_agent
from recode_graph.tools import load_environment


class CallTimer(BaseCallbackHandler):
    """Wall time and token usage of every chat-model call."""

    def __init__(self) -> None:
        self.started: dict[UUID, float] = {}
        self.calls: list[dict[str, Any]] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, **kw: Any) -> None:
        self.started[run_id] = time.perf_counter()

    def on_llm_end(self, response: Any, *, run_id: UUID, **kw: Any) -> None:
        begun = self.started.pop(run_id, None)
        message = response.generations[0][0].message
        meta = getattr(message, "usage_metadata", None) or {}
        cached = (meta.get("input_token_details") or {}).get("cache_read", 0)
        self.calls.append({"seconds": time.perf_counter() - begun if begun else 0.0,
                           "prompt": meta.get("input_tokens", 0), "cached": cached or 0,
                           "output": meta.get("output_tokens", 0)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local")
    parser.add_argument("--games", type=int, default=3)
    parser.add_argument("--max-calls", type=int, default=8)
    args = parser.parse_args(argv)
    env = load_environment("alfworld", split="unseen")
    agent = create_recode_agent(args.model, environment=env, max_model_calls=args.max_calls)
    everything: list[dict[str, Any]] = []
    try:
        for game in range(args.games):
            timer = CallTimer()
            t0 = time.perf_counter()
            out = agent.invoke({"task_id": game}, {"callbacks": [timer]})
            wall = time.perf_counter() - t0
            calls = timer.calls
            everything += calls
            warm = [c["seconds"] for c in calls[1:]] or [c["seconds"] for c in calls]
            prompt, cached = sum(c["prompt"] for c in calls), sum(c["cached"] for c in calls)
            print(f"game {game} ({out.get('task_type')}): {out['status']} score {out['score']:.2f}, "
                  f"{len(calls)} calls, {len(out['trajectory'])} actions, {wall:.0f} s; per expansion "
                  f"first {calls[0]['seconds'] if calls else 0:.1f} s, warm median {statistics.median(warm):.1f} s; "
                  f"prefix cache {cached}/{prompt} prompt tokens ({cached / max(1, prompt):.0%})")
    finally:
        env.close()
    if everything:
        prompt, cached = sum(c["prompt"] for c in everything), sum(c["cached"] for c in everything)
        seconds = [c["seconds"] for c in everything]
        print(f"overall: {len(everything)} expansions, median {statistics.median(seconds):.1f} s, mean "
              f"{statistics.mean(seconds):.1f} s per expansion; prefix-cache hit rate {cached / max(1, prompt):.1%}")


if __name__ == "__main__":
    main()
