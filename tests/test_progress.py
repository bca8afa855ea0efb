"""Progress when output is not a terminal (issue 34): `recode run` and `recode bench` with stdout a pipe print a
plain line saying what they wait for and for how long, after every RECODE_PROGRESS_SECONDS of silence. A slow
scripted model (tests/slow_model.py) makes the waits; real subprocesses, real ALFWorld for the benchmark."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TEST_PATH

from recode_graph.cli.heartbeat import Heartbeat, progress_interval

ROOT = Path(__file__).resolve().parent.parent
STILL = re.compile(r"^… still (.+) · (\d+) s$")


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "RECODE_MODEL")}
    env.update(RECODE_DATA_HOME=str(tmp_path), LANGSMITH_TRACING="false", PYTHONPATH=TEST_PATH,
               RECODE_MODELS="slow_hello=slow_model:slow_hello,slow_alfworld=slow_model:slow_alfworld", **extra)
    return env


def still_lines(output: str) -> list[tuple[str, int]]:
    return [(m.group(1), int(m.group(2))) for m in map(STILL.match, output.splitlines()) if m]


def test_recode_run_into_a_pipe_says_what_it_waits_for(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "recode_graph.cli", "run", "--instruction", "Ada",
                           "--model", "slow_hello", "--db", str(tmp_path / "t.sqlite")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env=child_env(tmp_path, RECODE_TEST_LATENCY="4", RECODE_PROGRESS_SECONDS="1"))
    assert done.returncode == 0, done.stderr
    assert "answer: Hello, Ada!" in done.stdout
    waits = still_lines(done.stdout)
    model_waits = [(what, s) for what, s in waits if what.startswith("waiting for the model's code for node")]
    # two model calls of 4 s each, a line after every silent second: at least one line per call, counting up
    assert {w.split(" (")[0] for w, _ in model_waits} >= {"waiting for the model's code for node 0",
                                                          "waiting for the model's code for node 1"}, done.stdout
    assert max(s for _, s in model_waits) >= 2 and len(model_waits) <= 2 * (time.monotonic() - started)


def test_a_terminal_value_of_the_interval_is_checked(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "recode_graph.cli", "run", "--instruction", "Ada",
                           "--model", "scripted:hello", "--db", str(tmp_path / "t.sqlite")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=child_env(tmp_path, RECODE_PROGRESS_SECONDS="soon"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "recode: error: RECODE_PROGRESS_SECONDS must be a number of seconds, got 'soon'"


def test_recode_bench_into_a_pipe_prints_lines_not_a_bar(tmp_path: Path) -> None:
    pytest.importorskip("alfworld")
    done = subprocess.run([sys.executable, "-m", "recode_graph.cli", "bench", "--env", "alfworld", "--split", "seen",
                           "-n", "2", "--model", "slow_alfworld", "--out", str(tmp_path / "out"),
                           "--no-plots"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env=child_env(tmp_path, RECODE_TEST_LATENCY="2", RECODE_PROGRESS_SECONDS="1"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "recode alfworld-seen: 2 episodes to run" in lines
    assert any(re.fullmatch(r"recode alfworld-seen: 1 of 2 done, reward 100\.0%, last success in \d+ s "
                            r"\(\d+ s in all\)", line) for line in lines), done.stdout
    waits = still_lines(done.stdout)
    assert any(w.startswith("waiting for the model to start and the first episode") for w, _ in waits)
    assert any(w == "waiting for episode 2 (recode alfworld-seen: 1 of 2 done)" for w, _ in waits), done.stdout
    assert "\x1b[" not in done.stdout  # no terminal control codes in a log


def test_heartbeat_is_quiet_while_output_flows() -> None:
    said: list[str] = []
    beat = Heartbeat(said.append, 0.5, "waiting for X").start()
    try:
        for _ in range(8):  # output every 0.1 s for 0.8 s: no progress line is due
            beat.printed()
            time.sleep(0.1)
        quiet = list(said)
        deadline = time.monotonic() + 30
        while not said and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        beat.stop()
    assert quiet == [] and said and STILL.match(said[0]) and said[0].startswith("… still waiting for X · ")


@pytest.mark.parametrize("value", ["0", "-1", "x", "99999"])
def test_interval_setting_is_validated(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECODE_PROGRESS_SECONDS", value)
    with pytest.raises(ValueError, match="RECODE_PROGRESS_SECONDS must be"):
        progress_interval()
    monkeypatch.delenv("RECODE_PROGRESS_SECONDS")
    assert progress_interval() == 30.0
