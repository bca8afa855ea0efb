"""Every stop resumes (issue 20): real child processes stopped with SIGINT / SIGTERM / SIGKILL at random
moments (``recode_graph.bench.stops``), resumed in a new process to the uninterrupted result; Ctrl-C at
start-up and twice in a row; a stop between a step's writes and its checkpoint; a finished thread answered
from the store alone. SQLite and the real Postgres server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import PG_URL
from langgraph.checkpoint.sqlite import SqliteSaver

from recode_graph import create_recode_agent
from recode_graph.bench import stops
from recode_graph.bench.stopchild import ALFWORLD_TASK, TOOLS_INSTRUCTION, lookup, slow_square, summary, tools_model
from recode_graph.persistence.threadstatus import finished, stranded

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = PG_URL.rpartition("/")[0]
ALFWORLD_RUN = ["--env", "alfworld", "--split", "seen", "--task", ALFWORLD_TASK,
                "--model", "stops_alfworld"]  # RECODE_MODELS of stops.child_env


def recode(*args: str, log: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recode_graph.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=stops.child_env(log))


def start(*args: str, log: Path, delay: str = "0.05,0.2") -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "recode_graph.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=stops.child_env(log, delay),
                            preexec_fn=stops.interruptible)


def wait_for(predicate: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


@pytest.mark.slow
def test_random_stops_resume_to_the_uninterrupted_result() -> None:
    """10 stops (fixed seed): each signal, both backends, the CLI (with and without approvals), the library
    sync and async, ALFWorld and LangChain tools; same status, answer, trajectory and model calls as an
    uninterrupted run, at most one model call paid again, no sandbox process left behind."""
    pytest.importorskip("alfworld")
    postgres = PG_SERVER if stops.postgres_up(PG_SERVER) else None
    if postgres is None and os.environ.get("CI"):
        pytest.fail(f"Postgres at {PG_SERVER} is required under CI")
    alf_cli, alf_async = stops.Case("alfworld", "cli"), stops.Case("alfworld", "async")
    tools_sync, tools_approve = stops.Case("tools", "sync"), stops.Case("tools", "cli-approve")
    plan = [(alf_cli, "SIGINT", "sqlite"), (alf_cli, "SIGTERM", "postgres"), (alf_cli, "SIGKILL", "sqlite"),
            (alf_async, "SIGINT", "postgres"), (alf_async, "SIGKILL", "sqlite"),
            (tools_sync, "SIGTERM", "sqlite"), (tools_sync, "SIGKILL", "postgres"), (tools_sync, "SIGINT", "sqlite"),
            (tools_approve, "SIGINT", "sqlite"), (tools_approve, "SIGTERM", "postgres")]
    outcomes = stops.run(len(plan), seed=2020, postgres=postgres, progress=False,
                         cases=(alf_cli, alf_async, tools_sync, tools_approve), stops=plan)
    print("\n" + stops.table(outcomes))
    assert len(outcomes) == (10 if postgres else 6)
    for outcome in outcomes:
        where = f"{outcome.case.name} {outcome.kind} {outcome.backend} after {outcome.delay} s"
        assert outcome.same, f"{where}: {outcome.problem}"
        assert outcome.graceful and not outcome.left, f"{where}: {outcome.problem}"
        assert 0 <= outcome.extra_calls <= 1, f"{where}: {outcome.extra_calls} extra model calls"


@pytest.mark.slow
def test_ctrl_c_twice_stops_at_once_and_the_thread_resumes(tmp_path: Path) -> None:
    pytest.importorskip("alfworld")
    db, log, thread = tmp_path / "t.sqlite", tmp_path / "calls.log", "twice"
    # a 2 s model call: on a loaded machine the signals still land inside it, not after the episode ended
    proc = start("run", *ALFWORLD_RUN, "--db", str(db), "--thread", thread, log=log, delay="2,2")
    wait_for(lambda: stops.calls_in(log) >= 2 or proc.poll() is not None)  # inside the second model call
    children = stops.descendants(proc.pid)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip() == f"recode: stopped: thread {thread} (Ctrl-C again); continue with: recode resume {thread} " \
        f"--db {db}" or err.strip() == f"recode: stopped: thread {thread} (Ctrl-C); continue with: recode resume " \
        f"{thread} --db {db}", err
    assert stops.left_behind(children) == []
    resumed = recode("resume", thread, "--db", str(db), log=log)
    assert resumed.returncode == 0, resumed.stderr
    assert "result: success" in resumed.stdout and "4 model calls" in resumed.stdout
    assert stops.calls_in(log) <= 5  # the interrupted call at most is paid again


def test_ctrl_c_at_start_up_is_one_line(tmp_path: Path) -> None:
    """Ctrl-C while the command loads (after the interpreter itself started): one line, exit 130."""
    log = tmp_path / "calls.log"
    for delay in (0.4, 0.8, 1.2):
        db = tmp_path / f"t{delay}.sqlite"
        proc = start("run", "--instruction", "hi", "--model", "scripted:hello", "--db", str(db), "--thread", "t",
                     log=log)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode in (130, 0), err  # 0: the tiny episode finished before the signal
        if proc.returncode == 130:
            assert err in ("recode: stopped (Ctrl-C) before a thread was stored; nothing to resume\n",
                           f"recode: stopped: thread t (Ctrl-C); continue with: recode resume t --db {db}\n"), err
            if "continue with" in err:
                assert recode("resume", "t", "--db", str(db), log=log).returncode == 0


@pytest.mark.slow
def test_sigterm_prints_the_resume_command_and_exits_143(tmp_path: Path) -> None:
    pytest.importorskip("alfworld")
    db, log, thread = tmp_path / "t.sqlite", tmp_path / "calls.log", "term"
    proc = start("run", *ALFWORLD_RUN, "--db", str(db), "--thread", thread, log=log, delay="2,2")  # a wide window
    wait_for(lambda: stops.calls_in(log) >= 1 or proc.poll() is not None)
    children = stops.descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert err == f"recode: stopped: thread {thread} (SIGTERM); continue with: recode resume {thread} --db {db}\n"
    assert stops.left_behind(children) == []
    assert recode("resume", thread, "--db", str(db), log=log).returncode == 0


class StopBeforeCheckpoint(SqliteSaver):
    """A stop (KeyboardInterrupt, as Ctrl-C raises it) right after a step's writes were stored and before
    the checkpoint that applies them: the moment of the reported bug."""

    stop_at = 3

    def put(self, *args: Any, **kwargs: Any) -> Any:
        self.stop_at -= 1
        if self.stop_at == 0:
            raise KeyboardInterrupt
        return super().put(*args, **kwargs)


def tools_agent(saver: Any) -> Any:
    return create_recode_agent(tools_model(), tools=[lookup, slow_square], checkpointer=saver)


@pytest.fixture(scope="module")
def tools_reference() -> dict[str, Any]:
    saver = SqliteSaver(sqlite3.connect(":memory:", check_same_thread=False))
    out = tools_agent(saver).invoke({"instruction": TOOLS_INSTRUCTION}, {"configurable": {"thread_id": "ref"}})
    assert out["status"] == "success" and len(out["trajectory"]) == 7
    return summary(out)


def test_a_stop_between_writes_and_checkpoint_is_continued(tmp_path: Path, tools_reference: dict[str, Any]) -> None:
    path = tmp_path / "t.sqlite"
    config = {"configurable": {"thread_id": "pending"}}
    conn = sqlite3.connect(str(path), check_same_thread=False)
    with pytest.raises(KeyboardInterrupt):
        tools_agent(StopBeforeCheckpoint(conn)).invoke({"instruction": TOOLS_INSTRUCTION}, config)
    conn.close()
    conn = sqlite3.connect(str(path), check_same_thread=False)
    agent = tools_agent(SqliteSaver(conn))
    snapshot = agent.get_state(config)
    # the reported state: nothing in `next`, the finished step's writes pending, status still running
    assert snapshot.next == () and snapshot.tasks and snapshot.values["status"] == "running"
    assert not finished(snapshot) and not stranded(snapshot)
    assert summary(agent.invoke(None, config)) == tools_reference
    assert finished(agent.get_state(config))


def test_a_stranded_thread_is_routed_again(tmp_path: Path, tools_reference: dict[str, Any]) -> None:
    """A checkpoint with nothing to run whose status is still running (here made by hand: the state just
    after the first expansion, stored as if ``finish`` had run) is continued, never called done."""
    saver = SqliteSaver(sqlite3.connect(str(tmp_path / "t.sqlite"), check_same_thread=False))
    agent, config = tools_agent(saver), {"configurable": {"thread_id": "stranded"}}
    agent.invoke({"instruction": TOOLS_INSTRUCTION}, config, interrupt_after=["expand"])
    agent.update_state(config, {}, as_node="finish")
    snapshot = agent.get_state(config)
    assert snapshot.next == () and not snapshot.tasks and snapshot.values["status"] == "running"
    assert stranded(snapshot) and not finished(snapshot)
    assert summary(agent.invoke(None, config)) == tools_reference


@pytest.mark.slow
def test_resume_of_a_finished_thread_reads_the_store_only(tmp_path: Path) -> None:
    pytest.importorskip("alfworld")
    db, log = tmp_path / "t.sqlite", tmp_path / "calls.log"
    done = recode("run", *ALFWORLD_RUN, "--db", str(db), "--thread", "done", log=log)
    assert done.returncode == 0, done.stderr
    result = [line for line in done.stdout.splitlines() if line.startswith("result: ")]
    # in a fresh interpreter: no model is made and the environment package is never imported
    code = ("import json, sys; from recode_graph.cli import main; code = main(['resume', 'done', '--db', sys.argv[1], "
            "'--model', 'no_such_module_xyz:model']); print(json.dumps({'code': code, 'alfworld': 'alfworld' in "
            "sys.modules, 'openai': 'langchain_openai' in sys.modules}))")
    again = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=120,
                           cwd=ROOT, env=stops.child_env(log))
    assert again.returncode == 0, again.stderr
    facts = json.loads(again.stdout.strip().splitlines()[-1])
    assert facts == {"code": 0, "alfworld": False, "openai": False}
    assert "the episode had already finished" in again.stdout
    assert [line for line in again.stdout.splitlines() if line.startswith("result: ")] == result  # stored time


def test_resume_command_names_the_store() -> None:
    assert stops_cli().resume_command("t1", "x.sqlite", None) == f"recode resume t1 --db {Path('x.sqlite').resolve()}"
    assert stops_cli().resume_command("t 2", None, None) == "recode resume 't 2'"
    assert stops_cli().resume_command("t3", None, "postgresql://u:secret@h/db") == \
        "recode resume t3 --postgres 'postgresql://u:***@h/db'"


def stops_cli() -> Any:
    from recode_graph.cli import stops as cli_stops

    return cli_stops



def test_a_thread_stuck_after_the_command_ends_cannot_keep_the_process_alive() -> None:
    """Once the command is done, the process ends within the grace time with the command's code, even when a
    worker thread is stuck (CPython would join it before the exit handlers run)."""
    script = ("import threading, time\nfrom recode_graph.cli import stops\nstops.program()\n"
              "threading.Thread(target=time.sleep, args=(3600,)).start()\nstops.closing(7, grace=1.0)\n")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], timeout=120, capture_output=True, text=True)
    assert done.returncode == 7, done.stderr
    assert time.monotonic() - started < 100  # far below the thread's hour; the grace is 1 s
