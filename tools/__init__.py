"""Environments behind one protocol (see tools/base.py); adapters load lazily by name."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from recode_graph.tools.base import (
    EnvError,
    Environment,
    EnvironmentError_,
    EpisodeInfo,
    PromptResources,
    Reset,
)

# name -> (module, class, pip requirement of the optional engine package, its import name)
ADAPTERS: dict[str, tuple[str, str, str, str]] = {
    "alfworld": ("recode_graph.tools.alfworld", "AlfWorld", "alfworld", "alfworld"),
    "sciworld": ("recode_graph.tools.sciworld", "ScienceWorld", "scienceworld", "scienceworld"),
    "webshop": ("recode_graph.tools.webshop", "WebShop", "", ""),
    "twx": ("recode_graph.tools.twx", "TextWorldExpress", "textworld-express", "textworld_express"),
}


def load_environment(name: str, **options: Any) -> Environment:
    """Build the environment adapter ``name`` (alfworld, sciworld, webshop, twx) with its options."""
    if name not in ADAPTERS:
        raise EnvError(f"unknown environment {name!r}; available: {', '.join(ADAPTERS)}")
    module_name, class_name, requirement, import_name = ADAPTERS[name]
    if import_name and importlib.util.find_spec(import_name) is None:
        raise EnvError(f"environment {name!r} needs the {requirement!r} package: in the checkout run "
                      'pip install -e ".[envs]" (elsewhere: pip install "/path/to/recode-graph[envs]")')
    module = importlib.import_module(module_name)
    adapter: Environment = getattr(module, class_name)(**options)
    return adapter


__all__ = [
    "ADAPTERS",
    "EnvError",
    "Environment",
    "EnvironmentError_",
    "EpisodeInfo",
    "PromptResources",
    "Reset",
    "load_environment",
]
