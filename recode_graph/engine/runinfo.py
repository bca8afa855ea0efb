"""Identity of the current run, for per-thread resources."""

from __future__ import annotations

import uuid


def thread_key() -> str:
    """The thread id of the running graph, or a fresh id when there is none (no checkpointer)."""
    try:
        from langgraph.config import get_config

        config = get_config()
    except RuntimeError:
        return uuid.uuid4().hex
    configurable = config.get("configurable", {})
    key = configurable.get("thread_id")
    if key:
        return str(key)
    return uuid.uuid4().hex
