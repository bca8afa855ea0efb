"""kill -9 at several points, resume in a fresh process: same final trajectory, no duplicated or lost
action, the environment rebuilt by replay. SQLite and the real Postgres server."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import PG_URL, require_postgres

pytest.importorskip("alfworld")

CHILD = Path(__file__).with_name("crash_child.py")
TASK = "pick_and_place_simple-Book-None-SideTable-329/trial_T20190908_050633_745514"


def child(db: str, thread: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHILD), "--db", db, "--thread", thread, "--task", TASK, *extra],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    db = str(tmp_path_factory.mktemp("ref") / "ref.sqlite")
    done = child(db, "ref")
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["status"] == "success" and out["score"] == 1.0 and len(out["actions"]) >= 4
    return out


KILL_POINTS = [("--kill-after-calls", 1), ("--kill-after-calls", 2), ("--kill-after-calls", 3),
               ("--kill-after-actions", 1), ("--kill-after-actions", 2), ("--kill-after-actions", 3)]


def crash_and_resume(db: str, reference: dict, flag: str, k: int, log: Path) -> None:
    thread = f"crash-{flag}-{k}-{uuid.uuid4().hex[:6]}"
    first = child(db, thread, flag, str(k), "--log", str(log))
    assert first.returncode == -9, f"child did not die at {flag} {k}: {first.stderr[-1500:]}"
    resumed = child(db, thread, "--resume", "--log", str(log))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    out = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert out["status"] == reference["status"] and out["actions"] == reference["actions"]
    assert out["calls"] == reference["calls"] and out["score"] == 1.0  # the rebuilt world reached the goal


@pytest.mark.slow
@pytest.mark.parametrize("flag,k", KILL_POINTS)
def test_kill_and_resume_sqlite(reference: dict, tmp_path: Path, flag: str, k: int) -> None:
    crash_and_resume(str(tmp_path / "cp.sqlite"), reference, flag, k, tmp_path / "steps.log")


@pytest.mark.slow
def test_kill_and_resume_postgres(reference: dict, tmp_path: Path) -> None:
    require_postgres(PG_URL)
    crash_and_resume(PG_URL, reference, "--kill-after-actions", 2, tmp_path / "steps.log")
