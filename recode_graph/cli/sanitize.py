"""What the ``recode`` command prints and reads is checked here: model-written text (answers, code, tool
output, errors) loses its terminal control sequences before it is printed, and command-line arguments that are
not text (bytes that are not UTF-8) are refused with one line naming the option."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from recode_graph.cli.common import CliError

_SEQUENCES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI (colours, cursor moves, erase)
    r"|\x1b\][^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"  # OSC (window title, hyperlinks, clipboard), to BEL or ST
    r"|\x1b[PX^_][^\x1b\x9c\n]*(?:\x1b\\|\x9c)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # other escape sequences
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # 8-bit CSI
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c\n]*(?:\x07|\x9c)?"  # 8-bit OSC, DCS, SOS, PM, APC
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 (but tab and newline), DEL, C1
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def terminal_text(text: str) -> str:
    """``text`` without terminal control sequences or other C0/C1 controls (tab and newline stay; a CR of a
    CRLF becomes the newline's); lone surrogates become U+FFFD, so printing never fails."""
    text = text.replace("\r\n", "\n")
    text = _SEQUENCES.sub("", text)
    text = _CONTROLS.sub("", text)
    return _SURROGATES.sub("\ufffd", text)


def terminal_safe(value: Any) -> Any:
    """``value`` (state values, stream events, interrupt requests) with every string passed through
    ``terminal_text``; other values as they are."""
    if isinstance(value, str):
        return terminal_text(value)
    if isinstance(value, dict):
        return {terminal_safe(k): terminal_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [terminal_safe(v) for v in value]
    if isinstance(value, tuple):
        return tuple(terminal_safe(v) for v in value)
    return value


def _not_text(arg: str) -> bool:
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 arrive as lone surrogates (surrogateescape)
        return True
    return False


def check_argv(argv: Sequence[str]) -> None:
    """CliError naming the option whose value is not UTF-8 text (``--thread $'t\\xff'``)."""
    for i, arg in enumerate(argv):
        if not _not_text(arg):
            continue
        if arg.startswith("--") and "=" in arg and not _not_text(arg.split("=", 1)[0]):
            where = arg.split("=", 1)[0]
        elif i and argv[i - 1].startswith("-") and not _not_text(argv[i - 1]):
            where = argv[i - 1]
        else:
            where = f"argument {i + 1}"
        raise CliError(f"{where}: the value is not UTF-8 text (it holds bytes that are not UTF-8)")


def check_thread(thread: str, where: str) -> str:
    """A thread id the command can print and store: not empty, printable (no control characters)."""
    if not thread.strip():
        raise CliError(f"{where} is empty")
    if not thread.isprintable():
        raise CliError(f"{where}: a thread id cannot hold control characters: {terminal_text(repr(thread))}")
    return thread
