"""Exit codes, the one-line error type and the argument parser shared by the subcommands."""

from __future__ import annotations

import argparse
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_WAITING, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
ENVIRONMENTS = ("alfworld", "sciworld", "webshop", "twx")
FORWARDED = {"bench": "recode_graph.bench.cli", "export-sft": "recode_graph.bench.sft"}


class CliError(Exception):
    """A one-line message for stderr and the exit code that goes with it."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(" ".join(str(message).split()))
        self.code = code


class NoAnswer(Exception):
    """Standard input ended while an approval was pending."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise CliError(f"{message} (see {self.prog} --help)")
