"""Custom stream events (``stream_mode="custom"``) so a UI can draw the tree as it grows."""

from __future__ import annotations

from typing import Any


def emit(event: str, **data: Any) -> None:
    """Send ``{"event": event, ...}`` to the custom stream; a no-op outside a graph run."""
    try:
        from langgraph.config import get_stream_writer

        writer = get_stream_writer()
    except (RuntimeError, ImportError, KeyError):
        return
    writer({"event": event, **data})
