"""Stop benchmark: stop real episodes at random moments, resume them in a new process, compare.

``python -m recode_graph.bench.stops --stops 200`` runs each stop as: start an episode in a child process
(``recode run`` or the library child ``recode_graph.bench.stopchild``, sync or async; ALFWorld or LangChain
tools; with or without approvals answered on stdin), send SIGINT, SIGTERM or SIGKILL after a random part of
the uninterrupted run's time, check the stop (exit code, one line, no sandbox worker left), continue the
thread in a new process (``recode resume`` or ``invoke(None, config)``) and compare the stored result with an
uninterrupted run: status, answer, trajectory (every primitive call with its arguments and result) and the
model calls the state counts. Prints a table: stop kind x backend: stops, resumed to the same result,
stops before anything was stored (re-run from the start), extra model calls paid. SQLite in a temporary
directory and Postgres (a database of its own, dropped at the end) when a server answers at ``--postgres``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recode_graph.bench.stopchild import ALFWORLD_TASK, CALC_INSTRUCTION, DELAY_ENV, LOG_ENV, summary

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}
GRACEFUL_EXIT = {"SIGINT": 130, "SIGTERM": 143}
CHILD = "recode_graph.bench.stopchild"
MODELS = f"stops_alfworld={CHILD}:alfworld_model,stops_calc={CHILD}:calc_model"  # the children's RECODE_MODELS


@dataclass(frozen=True)
class Case:
    agent: str  # alfworld | tools
    driver: str  # cli | cli-approve | sync | async

    @property
    def name(self) -> str:
        return f"{self.agent}/{self.driver}"


CASES = (Case("alfworld", "cli"), Case("alfworld", "sync"), Case("alfworld", "async"), Case("tools", "cli"),
         Case("tools", "cli-approve"), Case("tools", "sync"), Case("tools", "async"))


def command(case: Case, store: str, thread: str, resume: bool) -> list[str]:
    where = ["--postgres", store] if store.startswith("postgres") else ["--db", store]
    if case.driver in ("sync", "async"):
        return [sys.executable, "-m", CHILD, "--store", store, "--thread", thread, "--agent", case.agent,
                "--mode", case.driver, *(["--resume"] if resume else [])]
    cli = [sys.executable, "-m", "recode_graph.cli"]
    if resume:
        return [*cli, "resume", thread, *where]
    if case.agent == "alfworld":
        task = ["--env", "alfworld", "--split", "seen", "--task", ALFWORLD_TASK, "--model", "stops_alfworld"]
    else:
        task = ["--instruction", CALC_INSTRUCTION, "--model", "stops_calc"]
    approve = ["--approve", "expansions"] if case.driver == "cli-approve" else []
    return [*cli, "run", *task, *approve, "--thread", thread, *where]


def interruptible() -> None:
    """``preexec_fn`` of a child that is to be stopped with Ctrl-C: SIGINT back to its default, since a
    runner started in the background of a non-interactive shell ignores it, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def child_env(log: Path, delay: str = "0.05,0.2") -> dict[str, str]:
    """The environment of a child: its call log and its model's delay per answer ("low,high" seconds)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "RECODE_MODEL")}
    env.update({LOG_ENV: str(log), DELAY_ENV: delay, "LANGSMITH_TRACING": "false", "PYTHONUNBUFFERED": "1",
                "RECODE_MODELS": MODELS})
    return env


class Child:
    """A child process; for approvals, a thread answers ``a`` on its stdin every 0.3 s (so it waits)."""

    def __init__(self, argv: list[str], log: Path, feed: bool) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(log),
                                     preexec_fn=interruptible)
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [threading.Thread(target=self._read, args=(stream, sink), daemon=True)
                        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for reader in self.readers:
            reader.start()
        if feed:
            threading.Thread(target=self._feed, daemon=True).start()

    @staticmethod
    def _read(stream: Any, sink: list[str]) -> None:
        sink.append(stream.read())

    def _feed(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            while self.proc.poll() is None:
                time.sleep(0.3)
                stdin.write("a\n")
                stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def finish(self, timeout: float) -> tuple[int, str, str, float]:
        note = ""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            note = "\n[bench: killed after the timeout]"
        seconds = time.monotonic() - self.started
        for reader in self.readers:
            reader.join(30)
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        return self.proc.returncode, "".join(self.out), "".join(self.err) + note, seconds


def run_child(argv: list[str], log: Path, feed: bool, timeout: float = 240) -> tuple[int, str, str, float]:
    return Child(argv, log, feed).finish(timeout)


# ---------------------------------------------------------------------------------------------------
# Processes left behind


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(ppid, state, start time) of ``pid``, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return int(fields[1]), fields[0], fields[19]


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid``: {pid: start time}."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None:
                children.setdefault(found[0], []).append(int(entry.name))
                starts[int(entry.name)] = found[2]
    out: dict[int, str] = {}
    todo = list(children.get(pid, []))
    while todo:
        current = todo.pop()
        out[current] = starts.get(current, "")
        todo.extend(children.get(current, []))
    return out


def left_behind(processes: dict[int, str], grace: float = 10.0) -> list[int]:
    """The processes of ``processes`` still running (not a zombie) after ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while True:
        alive = []
        for pid, start in processes.items():
            found = _stat(pid)
            if found is not None and found[2] == start and found[1] != "Z":
                alive.append(pid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------------
# Stores


@contextmanager
def stores(postgres: str | None) -> Iterator[dict[str, str]]:
    """{"sqlite": path prefix, "postgres": URL of a new database} (postgres only when ``postgres`` answers)."""
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="recode-stops-") as tmp:
        out["sqlite"] = str(Path(tmp) / "threads.sqlite")
        out["tmp"] = tmp
        name = ""
        if postgres:
            import psycopg

            name = f"recode_stops_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(f"{postgres}/postgres", autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            out["postgres"] = f"{postgres}/{name}"
        try:
            yield out
        finally:
            if name:
                import psycopg

                with psycopg.connect(f"{postgres}/postgres", autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stored_result(store: str, thread: str) -> tuple[dict[str, Any] | None, bool]:
    """(summary of the thread's stored state or None when it has no checkpoint, finished?)."""
    from recode_graph import create_recode_agent
    from recode_graph.bench.stopchild import sync_saver
    from recode_graph.persistence.threadstatus import finished

    with sync_saver(store) as saver:
        config = {"configurable": {"thread_id": thread}}
        if saver.get_tuple(config) is None:
            return None, False
        snapshot = create_recode_agent(None, checkpointer=saver).get_state(config)
        return summary(snapshot.values), finished(snapshot)


def calls_in(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


# ---------------------------------------------------------------------------------------------------
# References and stops


@dataclass
class Reference:
    result: dict[str, Any]
    seconds: float  # the whole child process
    calls: int
    first_call: float  # when the first model call started (the thread is stored by then)


def first_call_at(child: Child, log: Path) -> float:
    """Seconds from the child's start to its first model call (or to its end)."""
    while child.proc.poll() is None and calls_in(log) == 0:
        time.sleep(0.01)
    return time.monotonic() - child.started


def reference(case: Case, store: str, tmp: Path) -> Reference:
    thread = f"ref-{case.agent}-{case.driver}-{uuid.uuid4().hex[:6]}"
    log = tmp / f"{thread}.calls"
    child = Child(command(case, store, thread, False), log, case.driver == "cli-approve")
    first = first_call_at(child, log)
    rc, out, err, seconds = child.finish(240)
    result, done = stored_result(store, thread)
    if rc != 0 or result is None or not done or result["status"] != "success":
        raise RuntimeError(f"uninterrupted {case.name} run failed (exit {rc}): {err[-1500:]}")
    return Reference(result, seconds, calls_in(log), first)


@dataclass
class Outcome:
    case: Case
    kind: str
    backend: str
    delay: float
    same: bool = False
    nothing_stored: bool = False
    extra_calls: int = 0
    graceful: bool = True
    left: list[int] = field(default_factory=list)
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.same and self.graceful and not self.left and not self.problem


def check_stop_output(case: Case, kind: str, rc: int, err: str) -> str:
    """The stop itself: exit code and, for the CLI, one line on stderr and no traceback."""
    if rc == 0:
        return ""  # the episode ended before the signal arrived
    if kind == "SIGKILL":
        return "" if rc == -signal.SIGKILL else f"exit {rc} after SIGKILL"
    if case.driver not in ("cli", "cli-approve"):
        return ""  # the library leaves signals to the application (KeyboardInterrupt / default SIGTERM)
    lines = [line for line in err.splitlines() if line.strip()]
    if rc != GRACEFUL_EXIT[kind]:
        return f"exit {rc} after {kind} (expected {GRACEFUL_EXIT[kind]}): {err[-800:]}"
    if "Traceback" in err or len(lines) != 1 or not lines[0].startswith("recode: stopped"):
        return f"not one stop line after {kind}: {err[-800:]}"
    return ""


START_UP_SHARE = 0.2  # stops at a random moment of the whole process; the rest within the episode


def one_stop(case: Case, kind: str, backend: str, store: str, ref: Reference, rng: random.Random, tmp: Path
             ) -> Outcome:
    """Stop ``case`` at a random moment: with probability ``START_UP_SHARE`` anywhere in the process's
    reference time (start-up included), else after its first model call started, within the episode."""
    thread = f"stop-{uuid.uuid4().hex[:10]}"
    log = tmp / f"{thread}.calls"
    feed = case.driver == "cli-approve"
    whole = rng.random() < START_UP_SHARE
    child = Child(command(case, store, thread, False), log, feed)
    if whole:
        delay = rng.uniform(0.05, 0.95) * ref.seconds
    else:
        delay = first_call_at(child, log) + rng.uniform(0.0, 0.95) * max(0.1, ref.seconds - ref.first_call)
    outcome = Outcome(case, kind, backend, round(delay, 2))
    time.sleep(max(0.0, delay - (time.monotonic() - child.started)))
    processes = descendants(child.proc.pid)
    if child.proc.poll() is None:
        child.proc.send_signal(SIGNALS[kind])
    rc, _, err, _ = child.finish(timeout=90)
    outcome.left = left_behind(processes)
    stop_problem = check_stop_output(case, kind, rc, err)
    outcome.graceful = not stop_problem
    rc2, out2, err2, _ = run_child(command(case, store, thread, True), log, feed)
    unknown = (case.driver.startswith("cli") and rc2 == 2 and "unknown thread" in err2) or \
        (not case.driver.startswith("cli") and '"nothing_stored": true' in out2)
    if unknown:  # stopped before anything was stored: start again, as the stop line says
        outcome.nothing_stored = True
        rc2, out2, err2, _ = run_child(command(case, store, thread, False), log, feed)
    result, done = stored_result(store, thread)
    outcome.same = done and result == ref.result
    outcome.extra_calls = calls_in(log) - ref.calls
    problems = [stop_problem] if stop_problem else []
    if rc2 not in (0,) or not outcome.same:
        problems.append(f"resume exit {rc2}; same={outcome.same} finished={done}: {err2[-1200:]}")
        if result is not None and result != ref.result:
            problems.append(f"got {json.dumps(result)[:600]}")
    if outcome.left:
        problems.append(f"processes left: {outcome.left}")
    outcome.problem = " | ".join(problems)
    return outcome


# ---------------------------------------------------------------------------------------------------
# The table


def table(outcomes: list[Outcome]) -> str:
    rows = ["| stop | backend | stops | resumed to the same result | stopped before anything was stored | "
            "extra model calls (total / max) | graceful | workers left |", "|---|---|---|---|---|---|---|---|"]
    keys = sorted({(o.kind, o.backend) for o in outcomes}, key=lambda k: (list(SIGNALS).index(k[0]), k[1]))
    for kind, backend in keys:
        group = [o for o in outcomes if o.kind == kind and o.backend == backend]
        extra = [o.extra_calls for o in group]
        rows.append(f"| {kind} | {backend} | {len(group)} | {sum(o.same for o in group)} | "
                    f"{sum(o.nothing_stored for o in group)} | {sum(extra)} / {max(extra)} | "
                    f"{sum(o.graceful for o in group)} | {sum(len(o.left) for o in group)} |")
    return "\n".join(rows)


def plan(count: int, backends: list[str], cases: tuple[Case, ...], rng: random.Random
         ) -> list[tuple[Case, str, str]]:
    """``count`` stops: every (case, stop kind, backend) once per round, each round in a new random order."""
    combos = [(c, k, b) for c in cases for k in SIGNALS for b in backends]
    out: list[tuple[Case, str, str]] = []
    while len(out) < count:
        rng.shuffle(combos)
        out.extend(combos[: count - len(out)])
    return out


def run(count: int, seed: int, postgres: str | None, cases: tuple[Case, ...] = CASES, progress: bool = True,
        stops: list[tuple[Case, str, str]] | None = None) -> list[Outcome]:
    """``count`` random stops (or exactly ``stops``: (case, kind, backend)), each resumed and compared."""
    rng = random.Random(seed)
    with stores(postgres) as where:
        tmp = Path(where["tmp"])
        refs = {case: reference(case, where["sqlite"], tmp) for case in cases}
        if progress:
            for case, ref in refs.items():
                print(f"reference {case.name}: {ref.seconds:.1f} s, {ref.calls} model calls", flush=True)
        backends = [b for b in ("sqlite", "postgres") if b in where]
        outcomes = []
        todo = [s for s in stops if s[2] in backends] if stops is not None else plan(count, backends, cases, rng)
        for i, (case, kind, backend) in enumerate(todo, 1):
            outcome = one_stop(case, kind, backend, where[backend], refs[case], rng, tmp)
            outcomes.append(outcome)
            if progress:
                mark = "ok" if outcome.ok else f"PROBLEM {outcome.problem}"
                print(f"[{i}/{len(todo)}] {case.name} {kind} {backend} after {outcome.delay:.2f} s: "
                      f"{'nothing stored, ' if outcome.nothing_stored else ''}extra calls {outcome.extra_calls}: "
                      f"{mark}", flush=True)
        return outcomes


def postgres_up(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(f"{url}/postgres", connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recode_graph.bench.stops", description=__doc__.split("\n")[0])
    parser.add_argument("--stops", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--postgres", default=PG_SERVER, help="server URL without database ('' for SQLite only)")
    args = parser.parse_args(argv)
    postgres = args.postgres if args.postgres and postgres_up(args.postgres) else None
    if args.postgres and postgres is None:
        print(f"no Postgres at {args.postgres}: SQLite only", flush=True)
    started = time.monotonic()
    outcomes = run(args.stops, args.seed, postgres)
    print(f"\n{len(outcomes)} stops in {time.monotonic() - started:.0f} s "
          f"(seed {args.seed}; cases: {', '.join(c.name for c in CASES)})\n")
    print(table(outcomes))
    bad = [o for o in outcomes if not o.ok]
    for o in bad:
        print(f"- {o.case.name} {o.kind} {o.backend} after {o.delay} s: {o.problem}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
