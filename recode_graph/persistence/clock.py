"""An episode's own duration, stored with its checkpoints (for ``recode run`` / ``recode resume``).

Each run segment (one ``recode run`` or ``recode resume`` process) writes ``CLOCK_KEY`` into the metadata of
every checkpoint it stores: when the segment started (``since``, epoch seconds) and how much episode time
the earlier segments had stored (``before``). The episode's time at a checkpoint is ``before`` plus that
checkpoint's timestamp minus ``since``: the active time up to the last stored step, without the pause
between a stop and its resume, and without a resume's own start-up. Threads stored without the key fall
back to the span between their first and last checkpoints.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

CLOCK_KEY = "recode_clock"


def _ts(checkpoint_tuple: Any) -> float | None:
    try:
        return datetime.fromisoformat(checkpoint_tuple.checkpoint["ts"]).timestamp()
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _clock(checkpoint_tuple: Any) -> dict[str, float] | None:
    raw = (getattr(checkpoint_tuple, "metadata", None) or {}).get(CLOCK_KEY)
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
        return {"since": float(value["since"]), "before": float(value["before"])}
    except (TypeError, ValueError, KeyError, json.JSONDecodeError):
        return None


def stored_seconds(saver: Any, config: Any, checkpoint_tuple: Any | None = None) -> float | None:
    """Episode seconds at the thread's latest checkpoint (None when the thread has none)."""
    last = checkpoint_tuple if checkpoint_tuple is not None else saver.get_tuple(config)
    if last is None:
        return None
    end = _ts(last)
    clock = _clock(last)
    if end is None:
        return None
    if clock is not None:
        return max(0.0, clock["before"] + end - clock["since"])
    first = None
    for item in saver.list(config):  # newest first: the last one listed is the thread's first checkpoint
        first = item
    start = _ts(first) if first is not None else None
    return max(0.0, end - start) if start is not None else None


def segment_metadata(before: float) -> dict[str, str]:
    """Config ``metadata`` for a run segment that starts now, after ``before`` stored episode seconds."""
    return {CLOCK_KEY: json.dumps({"since": time.time(), "before": round(before, 3)})}
