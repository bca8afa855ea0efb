"""Token usage of one model call, in the state's format."""

from __future__ import annotations

from typing import Any


def usage_of(message: Any) -> dict[str, int]:
    """calls, input/output tokens and prompt tokens served from a cache, from ``usage_metadata``."""
    meta = getattr(message, "usage_metadata", None) or {}
    details = meta.get("input_token_details") or {}
    return {"calls": 1, "input_tokens": int(meta.get("input_tokens", 0) or 0),
            "output_tokens": int(meta.get("output_tokens", 0) or 0),
            "cached_tokens": int(details.get("cache_read", 0) or 0)}
