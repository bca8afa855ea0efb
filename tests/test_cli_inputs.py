"""The ``recode`` command with bad or hostile input, in subprocesses: a module path as ``--model`` (even one that
would kill the process), an empty ``--model``, a ``--thread`` that is not UTF-8 or holds control characters are
one line each, exit 2, nothing written; your own factory is reached through the ``RECODE_MODELS`` allowlist;
and a model that writes terminal escape codes into its thought, code, tool input and answer cannot get one
to the terminal (pipe and real pseudo-terminal), nor through ``recode show``."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_model import INJECTED

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = {"RECODE_MODELS": "hostile=hostile_model:escapes"}


def env(home: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "RECODE_MODEL", "RECODE_MODELS")}
    return {**base, "RECODE_DATA_HOME": str(home), "LANGSMITH_TRACING": "false", "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", **extra}


def recode(home: Path, *args: str | bytes, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recode_graph.cli", *args], capture_output=True, text=True,
                          timeout=180, cwd=ROOT, env=env(home, **extra), stdin=subprocess.DEVNULL)


def one_error_line(done: subprocess.CompletedProcess[str], want: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert len(lines) == 1 and lines[0].startswith("recode: error: ") and want in lines[0], lines
    assert done.stdout == "" and "Traceback" not in done.stderr


@pytest.mark.parametrize(("model", "want"), [
    ("os:abort", "'os' is not a model provider"),
    ("builtins:input", "'builtins' is not a model provider"),
    ("recode_graph.bench.stopchild:calc_model", "a module path is never imported"),
    ("", "--model is empty"),
    ("   ", "--model is empty"),
    ("scripted:../../../etc/passwd", "unknown scripted fixture"),
    ("openai:gpt\x1b]0;x\x07", "control characters"),
])
def test_a_model_option_naming_code_or_nothing_is_one_line(tmp_path: Path, model: str, want: str) -> None:
    db = tmp_path / "t.sqlite"
    done = recode(tmp_path / "home", "run", "--instruction", "hi", "--model", model, "--db", str(db))
    one_error_line(done, want)
    assert not db.exists()


def test_resume_with_an_empty_model_is_one_line(tmp_path: Path) -> None:
    one_error_line(recode(tmp_path / "home", "resume", "t1", "--model", "", "--db", str(tmp_path / "x.sqlite")),
                   "--model is empty")


@pytest.mark.parametrize(("args", "want"), [
    (["run", "--instruction", "hi", "--model", "scripted:hello", "--thread", b"t\xff"],
     "--thread: the value is not UTF-8 text"),
    (["run", "--instruction", "hi", "--model", "scripted:hello", "--thread=t\udcff".encode(errors="surrogateescape")],
     "--thread: the value is not UTF-8 text"),
    (["run", "--instruction", b"caf\xe9", "--model", "scripted:hello"], "--instruction: the value is not UTF-8"),
    (["resume", b"t\xff"], "argument 2: the value is not UTF-8 text"),
    (["show", b"t\xfe", "--json"], "argument 2: the value is not UTF-8 text"),
    (["run", "--instruction", "hi", "--model", "scripted:hello", "--thread", "t\x1b[31m"],
     "--thread: a thread id cannot hold control characters"),
    (["run", "--instruction", "hi", "--model", "scripted:hello", "--thread", " "], "--thread is empty"),
    (["show", "a\x07b"], "THREAD: a thread id cannot hold control characters"),
])
def test_arguments_that_are_not_text_are_one_line(tmp_path: Path, args: list[str | bytes], want: str) -> None:
    db = tmp_path / "t.sqlite"
    one_error_line(recode(tmp_path / "home", *args, "--db", str(db)), want)
    assert not db.exists()


def test_your_own_factory_through_the_allowlist(tmp_path: Path) -> None:
    done = recode(tmp_path / "home", "run", "--instruction", "Ada", "--model", "mine", "--db",
                  str(tmp_path / "t.sqlite"), RECODE_MODELS="mine=slow_model:slow_hello", RECODE_TEST_LATENCY="0")
    assert done.returncode == 0, done.stderr
    assert "answer: Hello, Ada!" in done.stdout
    bad = recode(tmp_path / "home", "run", "--instruction", "Ada", "--model", "mine", "--db",
                 str(tmp_path / "u.sqlite"), RECODE_MODELS="mine=slow_model")
    one_error_line(bad, "RECODE_MODELS: 'mine=slow_model' is not name=module:attr")


def assert_clean(text: str, *, terminal: bool = False) -> None:
    """None of the sequences the model wrote; with ``terminal``, the output may hold rich's own styling
    (CSI colour and cursor codes, CR), so only the model's are looked for."""
    injected = [s for s in INJECTED if not (terminal and s in ("\x1b[31m", "\r"))]
    found = [s for s in injected if s in text]
    assert not found, found
    assert "\x1b]" not in text and "\x9b" not in text and "\x07" not in text  # no OSC, 8-bit CSI or bell at all
    if not terminal:
        assert "\x1b" not in text and "\r" not in text


def test_a_model_cannot_reach_the_terminal_with_escape_codes(tmp_path: Path) -> None:
    home, db = tmp_path / "home", tmp_path / "t.sqlite"
    done = recode(home, "run", "--instruction", "hi", "--model", "hostile", "--db", str(db), "--thread", "h1",
                  **HOSTILE)
    assert done.returncode == 0, done.stderr
    assert_clean(done.stdout + done.stderr)
    assert "answer: red answer 3 click endX" in done.stdout  # the text stays, the codes go
    assert "Thought with codes" in done.stdout
    for extra in ([], ["--mermaid"], ["--json"]):
        shown = recode(home, "show", "h1", "--db", str(db), *extra)
        assert shown.returncode == 0, shown.stderr
        assert_clean(shown.stdout)
        assert "one two" in shown.stdout


def read_terminal(argv: list[str], environ: dict[str, str], timeout: float = 180) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as stdin/stdout/stderr (rich's live UI); its exit code and output."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=environ, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    return code, b"".join(chunks).decode("utf-8", errors="replace")


def test_a_model_cannot_reach_a_real_terminal_either(tmp_path: Path) -> None:
    code, out = read_terminal([sys.executable, "-m", "recode_graph.cli", "run", "--instruction", "hi", "--model",
                               "hostile", "--db", str(tmp_path / "t.sqlite"), "--thread", "h2"],
                              {**env(tmp_path / "home", **HOSTILE), "TERM": "xterm-256color", "COLUMNS": "200"})
    assert code == 0, out[-2000:]
    assert "red answer 3 click endX" in out, out[-2000:]
    assert_clean(out, terminal=True)
