"""Prompt text shipped with the adapters (tools/prompts/*.txt)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

PROMPT_DIR = Path(__file__).resolve().parent / "prompts"


@cache
def prompt_text(name: str) -> str:
    """The text of ``tools/prompts/<name>.txt`` without surrounding blank lines."""
    return (PROMPT_DIR / f"{name}.txt").read_text(encoding="utf-8").strip("\n")

