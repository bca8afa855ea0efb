"""``recode``: run, resume and inspect ReCode episodes from the terminal.

Subcommands: ``run`` (one episode on an environment task or a free instruction), ``resume THREAD``
(continue an interrupted or crashed episode), ``show THREAD`` (tree and trajectory; mermaid or PNG),
``threads`` (the stored threads), ``graph`` (the LangGraph graph itself), ``serve`` (the graph on N Aegra server
processes), ``model serve`` (the embedded model as an OpenAI-compatible server), ``doctor`` (the sandbox's jail
layers), ``data`` (benchmark data), and ``bench`` / ``export-sft`` (forwarded to their modules).

Exit codes: 0 the episode succeeded (or the command did its job), 1 the episode failed or stopped on an
error (the thread stays resumable), 2 bad input, configuration or missing data (nothing was written),
3 an approval was left unanswered (end of input; resume later), 130 stopped with Ctrl-C, 143 stopped with
SIGTERM (both print the exact resume command).

Modules: ``app`` (parser, dispatch), ``stops`` (Ctrl-C / SIGTERM), ``common`` (exit codes, errors, parser),
``episode`` (run / resume), ``answers`` (approval input), ``ui`` (plain and live output), ``heartbeat`` (progress
lines when output is not a terminal), ``sanitize`` (printed text without terminal control sequences; arguments that
are not text), ``show`` (show / graph), ``threads``, ``data``, ``doctor``, ``serve``, ``model``, ``demo`` (demo
tools). This module stays light: ``main`` guards the
command's start-up before importing the rest.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from recode_graph.cli import stops


def main(argv: Sequence[str] | None = None) -> int:
    """The ``recode`` entry point: a stop while the command loads exits with one line (no traceback)."""
    if argv is None:
        stops.program()
    with stops.starting():
        from recode_graph.cli.app import main as run

    code = run(argv)
    if argv is None:  # the program ends next (clean-up at exit): a late signal exits with the command's code
        stops.closing(code)
    return code


def __getattr__(name: str) -> Any:  # the rest of the command's API (exit codes, parser, demo tools), loaded lazily
    if name.startswith("__"):
        raise AttributeError(name)
    app = importlib.import_module("recode_graph.cli.app")
    try:
        return getattr(app, name)
    except AttributeError:
        raise AttributeError(f"module 'recode_graph.cli' has no attribute {name!r}") from None


__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "EXIT_WAITING", "FORWARDED", "CliError",
           "build_parser", "calculator", "demo_tools", "main", "today", "word_count"]
