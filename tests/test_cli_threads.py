"""`recode threads`, the model `recode run` names when none is given, the hint after a scripted run, and the
calc_demo fixture that reads its question (issue 34). Real `recode` subprocesses, SQLite, scripted models."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recode_graph.cli.episode import model_note

ROOT = Path(__file__).resolve().parent.parent


def recode(tmp_path: Path, *args: str, stdin: str = "", **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "RECODE_MODEL")}
    env.update(RECODE_DATA_HOME=str(tmp_path), LANGSMITH_TRACING="false", **extra)
    return subprocess.run([sys.executable, "-m", "recode_graph.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=180, cwd=ROOT, env=env)


def test_threads_lists_id_task_status_and_time_newest_first(tmp_path: Path) -> None:
    db = str(tmp_path / "t.sqlite")
    calc = ["--model", "scripted:calc_demo", "--db", db]
    assert recode(tmp_path, "run", "--instruction", "what is 6 * 7?", *calc, "--thread", "done").returncode == 0
    waiting = recode(tmp_path, "run", "--instruction", "what is 1 + 1?", *calc, "--approve", "actions",
                     "--thread", "asks")
    assert waiting.returncode == 3, waiting.stderr
    listed = recode(tmp_path, "threads", "--db", db)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["thread", "task", "status", "when"]
    assert [row.split()[0] for row in rows] == ["asks", "done"]  # newest first
    assert re.fullmatch(r"asks\s+what is 1 \+ 1\?\s+waiting for an approval\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[0])
    assert re.fullmatch(r"done\s+what is 6 \* 7\?\s+success\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[1])

    one = recode(tmp_path, "threads", "--db", db, "--json", "--limit", "1")
    assert [json.loads(line)["thread"] for line in one.stdout.splitlines()] == ["asks"]
    assert json.loads(one.stdout)["model"] == "scripted:calc_demo"
    bad = recode(tmp_path, "threads", "--db", str(tmp_path / "none.sqlite"))
    assert bad.returncode == 2 and bad.stderr.startswith("recode: error: no threads database at")
    assert recode(tmp_path, "threads", "--db", db, "--limit", "0").stderr.strip() == \
        "recode: error: --limit must be at least 1"


def test_run_names_its_model_and_the_hint_keeps_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done = recode(tmp_path, "run", "--instruction", "Ada", "--db", str(tmp_path / "t.sqlite"),
                  RECODE_MODEL="scripted:hello")
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first == ("model: scripted:hello (from RECODE_MODEL); pick another with --model, e.g. --model "
                     "openai:gpt-4o-mini or --model scripted:calc_demo (a scripted demo, instant)")
    hint = [line for line in done.stdout.splitlines() if line.strip().startswith("recode run")]
    assert hint == ['  recode run --instruction "what is 2**10 + 7?" --model scripted:hello    another task']
    given = recode(tmp_path, "run", "--instruction", "Ada", "--model", "scripted:hello", "--db",
                   str(tmp_path / "t.sqlite"))
    assert not given.stdout.startswith("model:")  # named on the command line: no note
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("RECODE_MODEL", raising=False)
    assert "the embedded Qwen2.5-Coder-1.5B on this CPU" in model_note("local")


def test_calc_demo_answers_the_question_asked(tmp_path: Path) -> None:
    def answer(question: str) -> str:
        done = recode(tmp_path, "run", "--instruction", question, "--model", "scripted:calc_demo", "--db",
                      str(tmp_path / "t.sqlite"))
        assert done.returncode == 0, done.stderr
        return next(line for line in done.stdout.splitlines() if line.startswith("answer: "))

    assert answer("what is 2 + 3 * 4?") == "answer: what is 2 + 3 * 4? -> 14 (7 words)"
    assert answer("what is 2**10 + 7?") == "answer: what is 2**10 + 7? -> 1031 (5 words)"
    assert "only computes the arithmetic written in the question" in answer("what is the capital of France?")


def test_no_java_is_one_line_with_the_fix(tmp_path: Path) -> None:
    import pytest

    pytest.importorskip("scienceworld")
    empty = tmp_path / "bin"
    empty.mkdir()
    done = recode(tmp_path, "run", "--env", "sciworld", "--task", "0", "--model", "scripted:hello", "--db",
                  str(tmp_path / "t.sqlite"), PATH=str(empty))  # no `java` on PATH
    assert done.returncode == 2 and done.stderr.strip() == (
        "recode: error: sciworld needs Java 17 and there is no `java` on PATH: install it (Debian/Ubuntu: apt-get "
        "install -y openjdk-17-jre-headless), see docs/troubleshooting.md")


def test_threads_lists_a_postgres_store(tmp_path: Path) -> None:
    from conftest import own_database

    with own_database("recode_threads") as url:
        done = recode(tmp_path, "run", "--instruction", "what is 6 * 7?", "--model", "scripted:calc_demo",
                      "--postgres", url, "--thread", "pg-calc")
        assert done.returncode == 0, done.stderr
        listed = recode(tmp_path, "threads", "--postgres", url, "--json")
        assert listed.returncode == 0, listed.stderr
        (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
        assert (row["thread"], row["task"], row["status"]) == ("pg-calc", "what is 6 * 7?", "success")
