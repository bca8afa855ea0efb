"""kill -9 of a real child process at each point around a side-effecting call, on SQLite and Postgres:
after the resume the e-mail has gone out exactly once, or not yet with an interrupt asking what to do.

Run with ``-s`` to see the kill-point table."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import PG_URL, require_postgres

CHILD = Path(__file__).with_name("effects_child.py")
TABLE: list[str] = []


def child(db: str, thread: str, calls: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHILD), "--db", db, "--thread", thread, "--calls", str(calls),
                           *extra], capture_output=True, text=True, timeout=120)


def result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def sent(calls: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


# point → (calls executed before resuming, whether the resume interrupts, decision, answer at the end)
EXPECTED = {
    "before-intent": (0, False, "", "sent to bob"),
    "after-intent": (0, True, "approve", "sent to bob"),
    "after-call": (1, True, "respond:sent before the crash", "sent before the crash"),
    "after-result": (1, False, "", "sent to bob"),
}


def kill_and_resume(db: str, backend: str, point: str, tmp_path: Path) -> None:
    thread = f"fx-{point}-{uuid.uuid4().hex[:8]}"
    calls = tmp_path / f"{backend}-{point}.calls"
    first = child(db, thread, calls, "--kill", point)
    assert first.returncode == -9, f"child did not die at {point}: {first.stderr[-1500:]}"
    before, asks, decision, answer = EXPECTED[point]
    assert len(sent(calls)) == before
    resumed = result(child(db, thread, calls, "--resume"))
    at_interrupt = len(sent(calls))
    if asks:
        request = resumed["interrupt"]
        assert request is not None and request["side_effect"]["state"] == "intent stored, no result"
        assert request["review_configs"][0]["allowed_decisions"] == ["approve", "respond", "reject"]
        assert at_interrupt == before  # nothing re-ran while waiting for the decision
        resumed = result(child(db, thread, calls, "--decide", decision))
    else:
        assert resumed["interrupt"] is None
    assert resumed["status"] == "success" and resumed["answer"] == answer
    keys = {c["key"] for c in sent(calls)}
    assert len(sent(calls)) == 1 and len(keys) == 1 and next(iter(keys)).startswith(thread + "/")
    how = f"interrupt ({at_interrupt} calls while waiting), {decision.split(':')[0]}" if asks else "runs on"
    TABLE.append(f"| {backend} | {point} | {before} | {how} | {len(sent(calls))} |")


@pytest.mark.slow
@pytest.mark.parametrize("point", list(EXPECTED))
def test_kill_around_a_side_effect_sqlite(point: str, tmp_path: Path) -> None:
    kill_and_resume(str(tmp_path / "fx.sqlite"), "SQLite", point, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("point", list(EXPECTED))
def test_kill_around_a_side_effect_postgres(point: str, tmp_path: Path) -> None:
    require_postgres(PG_URL)
    kill_and_resume(PG_URL, "Postgres", point, tmp_path)


def teardown_module() -> None:
    if TABLE:
        print("\n| backend | kill point | calls when killed | resume | calls executed in the end |")
        print("|---|---|---|---|---|")
        print("\n".join(TABLE))
