"""The environment of one Aegra server process (each variable is described in docs/serving.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# keep LangGraph / LangSmith tooling from calling out
QUIET = {"LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true", "LANGSMITH_TRACING": "false"}


@dataclass(frozen=True)
class ServeSettings:
    """What every server process of one deployment shares."""

    database_url: str  # postgresql://user:password@host:5432/db: threads, runs, checkpoints, leases
    config: Path  # langgraph.json (served as it is)
    takeover_interval: float = 2.0  # seconds between two looks for runs of dead processes
    auth_type: str = "noop"  # Aegra's AUTH_TYPE: noop = anyone may call (local use only)
    log_level: str = "WARNING"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) plus the server's variables."""
        env = dict(os.environ if base is None else base)
        env.update(QUIET)
        env.update({
            "DATABASE_URL": self.database_url,
            "AEGRA_CONFIG": str(self.config.resolve()),
            "AUTH_TYPE": self.auth_type,
            "RECODE_TAKEOVER_INTERVAL": str(self.takeover_interval),
            "LOG_LEVEL": self.log_level,
        })
        return env
