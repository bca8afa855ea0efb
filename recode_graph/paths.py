"""Where the project keeps a user's files: threads, installed benchmark data (no imports beyond the stdlib)."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """``$RECODE_DATA_HOME``, else ``$XDG_DATA_HOME/recode-graph``, else ``~/.local/share/recode-graph``."""
    explicit = os.environ.get("RECODE_DATA_HOME", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "recode-graph"


def benchmark_data_dir() -> Path:
    """Where ``recode data`` installs benchmark data: ``$RECODE_DATA_DIR``, else ``<data home>/data``."""
    explicit = os.environ.get("RECODE_DATA_DIR", "").strip()
    return Path(explicit).expanduser() if explicit else data_home() / "data"
