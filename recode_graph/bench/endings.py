"""How an episode ended, as one short category per record (read from its status and reason), for the
summary's "how episodes ended" table. Works on records written before the category existed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

# (category, phrases of the reason that mean it), checked in order after success and error
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("step limit", ("step limit",)),
    ("context full", ("context window",)),
    ("model call limit", ("model call limit",)),
    ("plan ran out", ("plan finished before", "all steps done")),
    ("no valid code", ("no valid code", "same invalid answer")),
    ("depth limit", ("depth limit",)),
    ("stopped acting", ("stopped calling act",)),
    ("final answer", ("final answer",)),
    ("environment ended", ("environment ended",)),
    ("code failed", ("repair budget", "Error:")),  # a statement kept failing (its traceback is the reason)
)
ORDER = ("success", *(c for c, _ in CATEGORIES), "error", "other")


def ending(record: Mapping[str, Any]) -> str:
    """``success``, ``step limit``, ``context full``, ``plan ran out``, ``no valid code``, ... or ``other``."""
    if record.get("won"):
        return "success"
    if record.get("status") == "error":
        return "error"
    reason = str(record.get("reason") or "")
    for category, phrases in CATEGORIES:
        if any(p in reason for p in phrases):
            return category
    return "other"


def tally(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Episodes per ending, in the fixed order of ``ORDER`` (only endings that occur)."""
    counts = Counter(ending(r) for r in records)
    return {name: counts[name] for name in ORDER if counts[name]}


def describe(counts: Mapping[str, int]) -> str:
    """``success 3, step limit 5, plan ran out 4``."""
    return ", ".join(f"{name} {n}" for name, n in counts.items())
