"""The ``recode`` command line: argument parsing and dispatch to the subcommands (see ``recode_graph.cli``)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from recode_graph.cli import data as datacmd
from recode_graph.cli import doctor, stops
from recode_graph.cli import model as modelcmd
from recode_graph.cli import serve as servecmd
from recode_graph.cli import threads as threadscmd
from recode_graph.cli.common import (
    ENVIRONMENTS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_WAITING,
    FORWARDED,
    CliError,
    Parser,
)
from recode_graph.cli.demo import calculator, demo_tools, today, word_count
from recode_graph.cli.episode import cmd_resume, cmd_run
from recode_graph.cli.sanitize import check_argv, terminal_text
from recode_graph.cli.show import cmd_graph, cmd_show
from recode_graph.tools.grounding import DEFAULT_GROUNDING, GROUNDING_MODES


def forward(command: str, argv: list[str]) -> int:
    """``recode bench ...`` / ``recode export-sft ...``: hand the rest of the line to the module's main."""
    module_name = FORWARDED[command]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise CliError(f"`recode {command}` is not available: module {module_name} is not installed") from None
        raise CliError(f"`recode {command}` cannot load {module_name}: {exc}") from None
    entry = getattr(module, "main", None)
    if not callable(entry):
        raise CliError(f"`recode {command}`: {module_name} has no main(argv) function")
    result = entry(argv)
    return int(result) if isinstance(result, int) else EXIT_OK


# ---------------------------------------------------------------------------------------------------
# Argument parsing


def _store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="FILE", help="SQLite file of threads (default: $RECODE_DATA_HOME or "
                        "~/.local/share/recode-graph/threads.sqlite)")
    parser.add_argument("--postgres", metavar="URL", help="store threads in Postgres instead "
                        "(postgresql://user@host:5432/db)")


def _run_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="run one episode", description="Run one ReCode episode: an environment "
                         "task (--env, --split, --task) or a free --instruction with built-in demo tools.")
    run.add_argument("--env", help=f"environment: {', '.join(ENVIRONMENTS)}")
    run.add_argument("--split", help="task split of the environment (e.g. seen, unseen)")
    run.add_argument("--task", help="task id or index in the split (default: 0)")
    run.add_argument("--instruction", help="a free instruction (no environment; demo tools calculator, "
                     "word_count, today)")
    run.add_argument("--model", help="model: 'local', 'openai:gpt-4o-mini' (any init_chat_model provider string), "
                     "'scripted:<fixture>' or a name from $RECODE_MODELS (your own factories: NAME=module:attr,...) "
                     "(default: $RECODE_MODEL, else OpenAI when OPENAI_API_KEY is set, else local)")
    run.add_argument("--base-url", metavar="URL", help="an OpenAI-compatible server (vLLM, Ollama, llama.cpp, "
                     "`recode model serve`); --model then names the model there")
    run.add_argument("--approve", metavar="WHAT", help="ask a person first: expansions, actions, all, tool names "
                     "(comma-separated, may include expansions), or an interrupt_on JSON object "
                     "'{\"calculator\": {\"allowed_decisions\": [\"approve\", \"reject\"]}}'")
    run.add_argument("--max-depth", type=int, default=10, help="depth limit of the expansion tree (default 10)")
    run.add_argument("--thread", help="thread id (default: generated and printed)")
    run.add_argument("--executor", choices=["workers", "inprocess"], default="workers",
                     help="where generated code runs: limited worker processes (default) or this process "
                     "(debugging only, not a security boundary)")
    run.add_argument("--grounding", choices=GROUNDING_MODES, default=DEFAULT_GROUNDING,
                     help="an invalid environment action: off (as in the paper), hint (the observation lists the "
                     "closest valid actions), snap (the one clearly closest valid action runs instead) or fail "
                     "(as hint, and run() raises ValueError in the generated code, which is repaired) "
                     f"(default: {DEFAULT_GROUNDING})")
    _store_args(run)
    run.set_defaults(handler=cmd_run)


def build_parser() -> Parser:
    parser = Parser(prog="recode", description="ReCode agent (recursive code generation) on LangGraph.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run_parser(sub)
    resume = sub.add_parser("resume", help="continue an interrupted or crashed episode")
    resume.add_argument("thread")
    resume.add_argument("--model", help="use another model for the rest of the episode")
    _store_args(resume)
    resume.set_defaults(handler=cmd_resume)
    show = sub.add_parser("show", help="show a thread's expansion tree and trajectory")
    show.add_argument("thread")
    formats = show.add_mutually_exclusive_group()
    formats.add_argument("--mermaid", action="store_true", help="print the tree as a mermaid flowchart")
    formats.add_argument("--png", metavar="FILE", help="draw the tree to a PNG file (needs graphviz 'dot')")
    formats.add_argument("--json", action="store_true", help="print the state (tree, trajectory, usage) as JSON")
    _store_args(show)
    show.set_defaults(handler=cmd_show)
    graph = sub.add_parser("graph", help="draw the LangGraph graph (mermaid text, or --png via graphviz)")
    graph.add_argument("--png", metavar="FILE", help="write a PNG (needs graphviz 'dot')")
    graph.set_defaults(handler=cmd_graph)
    threadscmd.add_parser(sub)
    datacmd.add_parser(sub)
    doctor.add_parser(sub)
    servecmd.add_parser(sub)
    modelcmd.add_parser(sub)
    for name, module in FORWARDED.items():
        sub.add_parser(name, help=f"forwarded to {module}.main (see recode {name} --help)", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        with stops.graceful():
            check_argv(args_list)
            if args_list and args_list[0] in FORWARDED:
                return forward(args_list[0], args_list[1:])
            args = build_parser().parse_args(args_list)
            return int(args.handler(args))
    except stops.Stopped as stop:
        print(f"recode: {stops.stopped_line(stop)}", file=sys.stderr)
        return stop.code
    except CliError as exc:
        sys.stdout.flush()
        print(f"recode: error: {terminal_text(str(exc))}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("recode: interrupted; a started thread can be continued with `recode resume THREAD`",
              file=sys.stderr)
        return EXIT_INTERRUPTED


__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "EXIT_WAITING", "FORWARDED", "CliError",
           "build_parser", "calculator", "demo_tools", "main", "today", "word_count"]
