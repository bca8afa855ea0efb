"""What the Aegra fault tests read and wait for: the SDK clients of several processes, the runs table (which
process holds a run's lease, how often it was taken over), an episode's outcome, a process's children."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

FINAL = ("success", "error", "interrupted", "timeout")


def clients(servers: list[Any]) -> list[Any]:
    from langgraph_sdk import get_sync_client

    return [get_sync_client(url=s.url, timeout=120) for s in servers]


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def outcome(values: dict[str, Any]) -> tuple[Any, ...]:
    """What an episode ended with, without the ids that differ between two runs."""
    messages = [(m["type"], m["content"]) for m in values.get("messages", [])]
    return values.get("status"), values.get("answer"), messages, len(values.get("trajectory") or [])


def run_rows(database_url: str, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``runs`` rows straight from Postgres: status, claimed_by (``host-PID-worker-N``), retries, error."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT run_id::text AS run_id, status, claimed_by, error_message, "
                            "COALESCE((execution_params->>'_retry_count')::int, 0) AS retries "
                            "FROM runs WHERE run_id::text = ANY(%s)", (run_ids,)).fetchall()
    return {row["run_id"]: row for row in rows}


def owner_pid(row: dict[str, Any]) -> int | None:
    """The server process id in a ``claimed_by`` of ``{hostname}-{pid}-worker-{n}``."""
    claimed = row.get("claimed_by") or ""
    parts = claimed.rsplit("-worker-", 1)[0].rsplit("-", 1)
    return int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else None


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def sends(sent: Path) -> list[str]:
    return sent.read_text().splitlines() if sent.exists() else []

