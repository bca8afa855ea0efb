"""The environment of one Aegra server process (each variable is described in docs/serving.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# keep LangGraph / LangSmith tooling from calling out
QUIET = {"LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true", "LANGSMITH_TRACING": "false"}
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class ServeSettings:
    """What every server process of one deployment shares. Timings are in seconds."""

    database_url: str  # postgresql://user:password@host:5432/db: threads, runs, checkpoints, run leases
    config: Path  # langgraph.json (served as it is)
    redis_url: str = DEFAULT_REDIS  # the job queue, cross-process streams and cancels
    workers: int = 2  # queue consumers in each process
    jobs_per_worker: int = 16  # runs each consumer executes at once
    lease: int = 30  # a run's lease; a process that stops renewing it loses its runs to the others
    heartbeat: int = 10  # how often a running process renews its leases (a lease must outlast two)
    reaper: int = 15  # how often each process looks for expired leases and re-queues their runs
    stuck_pending: int = 120  # a queued run no worker took for this long is queued again (e.g. Redis lost it)
    drain: float = 10.0  # on SIGTERM: how long running runs may finish before they are handed to others
    max_retries: int = 3  # takeovers of one run before it fails
    auth_type: str = "noop"  # Aegra's AUTH_TYPE: noop = anyone may call (local use only)
    log_level: str = "WARNING"

    def __post_init__(self) -> None:
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"the Redis URL must start with redis://, rediss:// or unix://, got {self.redis_url!r}")
        if min(self.workers, self.jobs_per_worker, self.heartbeat, self.reaper) < 1:
            raise ValueError("workers, jobs per worker, heartbeat and reaper must each be at least 1")
        if self.lease <= 2 * self.heartbeat:
            raise ValueError(f"the lease ({self.lease}s) must be longer than two heartbeats ({self.heartbeat}s each)")

    @property
    def stop_timeout(self) -> float:
        """How long a stopped process may take (its drain, then handing runs back) before it is killed."""
        return self.drain + 20.0

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) plus the server's variables."""
        env = dict(os.environ if base is None else base)
        env.update(QUIET)
        env.update({
            "DATABASE_URL": self.database_url,
            "AEGRA_CONFIG": str(self.config.resolve()),
            "AUTH_TYPE": self.auth_type,
            "LOG_LEVEL": self.log_level,
            "REDIS_BROKER_ENABLED": "true",
            "REDIS_URL": self.redis_url,
            "WORKER_COUNT": str(self.workers),
            "N_JOBS_PER_WORKER": str(self.jobs_per_worker),
            "LEASE_DURATION_SECONDS": str(self.lease),
            "HEARTBEAT_INTERVAL_SECONDS": str(self.heartbeat),
            "REAPER_INTERVAL_SECONDS": str(self.reaper),
            "STUCK_PENDING_THRESHOLD_SECONDS": str(self.stuck_pending),
            "WORKER_DRAIN_TIMEOUT": str(self.drain),
            "BG_JOB_MAX_RETRIES": str(self.max_retries),
            "CRON_ENABLED": "false",
            "LANGGRAPH_MIN_POOL_SIZE": "1",
            "LANGGRAPH_MAX_POOL_SIZE": env.get("LANGGRAPH_MAX_POOL_SIZE", "8"),
            "SQLALCHEMY_POOL_SIZE": env.get("SQLALCHEMY_POOL_SIZE", "3"),
            "SQLALCHEMY_MAX_OVERFLOW": env.get("SQLALCHEMY_MAX_OVERFLOW", "6"),
        })
        return env
