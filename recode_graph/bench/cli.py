"""``recode bench`` / ``python -m recode_graph.bench``: the command line of the harness."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recode_graph.bench.config import DEFAULT_HISTORY, DEFAULT_REACT_FORMAT, REACT_FORMATS, BenchError
from recode_graph.bench.harness import make_config, run_config
from recode_graph.bench.report import write_report
from recode_graph.tools.grounding import DEFAULT_GROUNDING, GROUNDING_MODES


# -- command line -------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recode bench", description="Benchmark ReCode and baselines on a fixed task "
                                "sample; writes episode records, a summary table and plots.")
    p.add_argument("--env", required=True, help="alfworld, sciworld, twx or webshop")
    p.add_argument("--split", default=None, help="task split (default: unseen / test)")
    p.add_argument("-n", "--n", type=int, default=20, help="number of tasks (stratified by task type)")
    p.add_argument("--agent", default="recode", help="recode, react or codeact")
    p.add_argument("--model", default=None, help="model spec: local, openai:gpt-4o-mini, scripted:<fixture>, ...")
    p.add_argument("--base-url", default=None, metavar="URL", help="an OpenAI-compatible server (vLLM, Ollama, "
                   "llama.cpp, `recode model serve`); --model then names the model there")
    p.add_argument("--concurrency", type=int, default=1, help="episodes run at once")
    p.add_argument("--out", default="bench-out", help="output directory (shared by runs; resumable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the task sample")
    p.add_argument("--server", default=None, help="LangGraph server URL: run each episode as a thread there")
    p.add_argument("--max-depth", type=int, default=10, help="ReCode depth limit")
    p.add_argument("--max-model-calls", type=int, default=None,
                   help="model calls per episode (default: ReCode 200, baselines the step limit)")
    p.add_argument("--step-limit", type=int, default=None, help="environment step limit (default: the env's)")
    p.add_argument("--grounding", default=DEFAULT_GROUNDING, choices=GROUNDING_MODES,
                   help=f"invalid actions, for every agent: off (the paper), hint (list the closest valid actions), "
                   f"snap (run the one clearly closest valid action) or fail (hint, and run() raises ValueError in "
                   f"generated code) (default: {DEFAULT_GROUNDING})")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="cap on tokens per model answer (default: the model's own; for --model local the published "
                   "settings: 512, ReAct 160)")
    p.add_argument("--history", type=int, default=DEFAULT_HISTORY,
                   help="ReAct: steps of its conversation the model sees (a window of N to 2N-1 recent steps, moved "
                   f"N at a time so the prompt prefix stays cached; 0 = all) (default: {DEFAULT_HISTORY})")
    p.add_argument("--react-format", default=DEFAULT_REACT_FORMAT, choices=REACT_FORMATS,
                   help="ReAct: the model writes ReAct's 'Action: ...' lines (text) or the provider's tool calls "
                   f"(tools) (default: {DEFAULT_REACT_FORMAT})")
    p.add_argument("--repeat-note", action="store_true",
                   help="ReAct: answer an action that changed nothing (refused, or a recent action with the same "
                   "observation) with a note: how often it was sent, where the agent stands, try another action")
    p.add_argument("--prices", default=None, help="price table JSON (default: recode_graph/bench/prices.json)")
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
    from recode_graph.models.resolve import ModelError
    from recode_graph.tools.base import EnvError

    try:
        if args.report_only:
            summary = write_report(Path(args.out), args.prices, plots=not args.no_plots, price_as=args.price_as)
            print((Path(args.out) / "summary.md").read_text())
            print(written(Path(args.out)))
            return 0 if summary["rows"] else 1
        options: dict[str, Any] = {"step_limit": args.step_limit} if args.step_limit else {}
        out = Path(args.out)
        model: Any = args.model
        if args.base_url:
            from recode_graph.models.openai_compat import openai_compatible

            if args.server:
                raise BenchError("--base-url picks this process's model; with --server the server's model runs")
            model = openai_compatible(args.base_url, args.model or "")
        cfg = make_config(args.env, args.split, args.n, args.agent, model, args.concurrency, out, args.seed,
                          server=args.server, max_depth=args.max_depth, max_model_calls=args.max_model_calls,
                          max_tokens=args.max_tokens, grounding=args.grounding, history=args.history,
                          react_format=args.react_format, repeat_note=args.repeat_note,
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
    print(written(out))
    return 0


def written(out: Path) -> str:
    """Where the run's files are (the last line of ``recode bench``)."""
    made = [p.name for p in (out / "summary.md", out / "summary.json", out / "reward.png", out / "cost_reward.png")
            if p.exists()]
    return f"wrote {', '.join(made)} in {out}/; one record per episode in {out}/<env>-<split>/episodes/<agent>/"
