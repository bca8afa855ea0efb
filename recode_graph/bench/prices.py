"""Token prices (``recode_graph/bench/prices.json``, editable) and the USD cost of an episode's usage."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).resolve().parent / "prices.json"
PER_TOKENS = 1_000_000


def load_prices(path: str | Path | None = None) -> dict[str, dict[str, float]]:
    """Model key → {input, cached_input, output} in USD per 1M tokens."""
    file = Path(path) if path is not None else PRICES_FILE
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        raise ValueError(f"price table {file} not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"price table {file} is not valid JSON: {exc}") from None
    models = data.get("models", data) if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise ValueError(f"price table {file} must map model names to prices")
    out: dict[str, dict[str, float]] = {}
    for name, entry in models.items():
        if isinstance(entry, int | float):
            entry = {"input": entry, "cached_input": entry, "output": entry}
        if not isinstance(entry, dict) or "input" not in entry or "output" not in entry:
            raise ValueError(f"price table {file}: {name!r} needs 'input' and 'output' prices")
        out[str(name)] = {"input": float(entry["input"]), "output": float(entry["output"]),
                          "cached_input": float(entry.get("cached_input", entry["input"]))}
    return out


def price_key(model: str, prices: Mapping[str, Any]) -> str | None:
    """The price-table key for a model spec or name, or None when it is not priced."""
    name = model.strip()
    candidates = [name]
    head, sep, rest = name.partition(":")
    if sep:
        candidates += [head, rest] if head in ("local", "scripted") else [rest]
    for cand in candidates:
        if cand in prices:
            return cand
    matches = [k for k in prices for cand in candidates if cand.startswith(k)]
    return max(matches, key=len) if matches else None


def cost_usd(model: str, usage: Mapping[str, Any], prices: Mapping[str, Mapping[str, float]]) -> float | None:
    """USD for ``usage`` (input_tokens include the cached ones); None when the model has no price."""
    key = price_key(model, prices)
    if key is None:
        return None
    price = prices[key]
    cached = int(usage.get("cached_tokens", 0) or 0)
    fresh = max(0, int(usage.get("input_tokens", 0) or 0) - cached)
    out = int(usage.get("output_tokens", 0) or 0)
    return (fresh * price["input"] + cached * price["cached_input"] + out * price["output"]) / PER_TOKENS
