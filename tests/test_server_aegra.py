"""Several Aegra server processes sharing one Postgres and one Redis (docs/serving.md): a thread moves between
processes, a cancel reaches the process running the run, the runs of a process killed with SIGKILL are taken over
by another and end as an uninterrupted run does, and a side-effect tool still runs once across that takeover."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aegra_tools import FINAL, alive, children, clients, outcome, owner_pid, run_rows, sends, wait_for
from conftest import ROOT, aegra

SLOW = {"model": "slow_hello"}  # two model calls of RECODE_TEST_LATENCY s each (1 s by default)


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Any]]:
    with aegra(ROOT / "langgraph.json", tmp_path_factory.mktemp("aegra2"), processes=2) as servers:
        yield servers


@pytest.mark.slow
def test_an_approval_raised_through_one_process_is_resumed_through_another(two: list[Any]) -> None:
    a, b = clients(two)
    thread = a.threads.create()["thread_id"]
    context = {"model": "scripted:hello", "approve": "expansions"}
    state = a.runs.wait(thread, "recode", input={"instruction": "Ada"}, context=context)
    assert state["__interrupt__"][0]["value"]["action_requests"][0]["name"] == "expansion"
    assert b.threads.get(thread)["status"] == "interrupted"
    approve = {"decisions": [{"type": "approve"}]}
    state = b.runs.wait(thread, "recode", command={"resume": approve}, context=context)
    assert state["__interrupt__"][0]["value"]["action_requests"][0]["args"]["call"].startswith("greeting =")
    state = a.runs.wait(thread, "recode", command={"resume": approve}, context=context)
    assert state["status"] == "success" and state["answer"] == "Hello, Ada!"
    assert len(b.threads.get_history(thread, limit=100)) >= 6


@pytest.mark.slow
def test_a_cancel_sent_to_another_process_stops_the_run(two: list[Any]) -> None:
    a, b = clients(two)
    thread = a.threads.create()["thread_id"]
    run = a.runs.create(thread, "recode", input={"instruction": "Ada"}, context=SLOW)["run_id"]
    wait_for(lambda: b.runs.get(thread, run)["status"] == "running", 120, "the run to start")  # load 13: slow
    b.runs.cancel(thread, run)
    wait_for(lambda: a.runs.get(thread, run)["status"] in FINAL, 120, "the cancel")
    time.sleep(3)  # the run would have ended by now
    assert a.runs.get(thread, run)["status"] == "interrupted"
    assert not a.threads.get_state(thread)["values"].get("answer")


def kill_owner(servers: list[Any], database_url: str, run_ids: list[str], workers_within: float = 0
               ) -> tuple[Any, list[str], list[int]]:
    """SIGKILL the process holding the most of ``run_ids`` (once it has sandbox workers, when
    ``workers_within`` > 0: a loaded machine can be slow to reach the first statement); returns it, the runs
    it held, its children then."""
    def owners() -> tuple[Any, dict[int, list[str]]]:
        rows = run_rows(database_url, run_ids)
        by_pid = {s.pid: [r for r in run_ids if owner_pid(rows[r]) == s.pid] for s in servers}
        return max(servers, key=lambda s: len(by_pid[s.pid])), by_pid

    if workers_within > 0:
        wait_for(lambda: children(owners()[0].pid), workers_within, "the sandbox workers of the process to kill")
    victim, by_pid = owners()
    kids = children(victim.pid)
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    return victim, by_pid[victim.pid], kids


@pytest.mark.slow
def test_runs_of_a_killed_process_are_taken_over_and_end_as_uninterrupted_runs(tmp_path: Path) -> None:
    with aegra(ROOT / "langgraph.json", tmp_path, processes=2, RECODE_TEST_LATENCY="3") as servers:
        cs = clients(servers)
        reference = cs[1].threads.create()["thread_id"]
        cs[1].runs.wait(reference, "recode", input={"instruction": "Ada"}, context=SLOW)
        expected = outcome(cs[1].threads.get_state(reference)["values"])
        assert expected[:2] == ("success", "Hello, Ada!")

        runs = []
        for i in range(8):
            client = cs[i % 2]
            thread = client.threads.create()["thread_id"]
            runs.append((thread, client.runs.create(thread, "recode", input={"instruction": "Ada"},
                                                    context=SLOW)["run_id"]))
        ids = [r for _, r in runs]
        db = servers[0].database_url
        wait_for(lambda: all(row["status"] == "running" for row in run_rows(db, ids).values()), 60,
                 "the runs to start")
        time.sleep(1.5)  # some are past their first model call
        victim, in_flight, kids = kill_owner(servers, db, ids, workers_within=120)
        assert in_flight, "the killed process held none of the runs"
        assert kids, "the killed process had no sandbox workers to check"
        survivor = cs[1 - servers.index(victim)]

        def finished() -> bool:
            return all(row["status"] in FINAL for row in run_rows(db, ids).values())

        wait_for(finished, 180, "the taken-over runs to finish", interval=1.0)
        rows = run_rows(db, ids)
        for thread, run in runs:
            assert rows[run]["status"] == "success", rows[run]
            assert outcome(survivor.threads.get_state(thread)["values"]) == expected
            assert survivor.threads.get(thread)["status"] == "idle"
        assert sorted(r for r in ids if rows[r]["retries"] == 1) == sorted(in_flight)  # each taken over once
        wait_for(lambda: not [k for k in kids if alive(k)], 60, "the killed process's children to exit")
        print(f"kill -9: {len(runs)} runs, {len(in_flight)} on the killed process, all success, "
              f"{len(kids)} of its children gone")


def set_lease(database_url: str, run_id: str, claimed_by: str, seconds: float) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE runs SET claimed_by = %s, lease_expires_at = now() + make_interval(secs => %s) "
                     "WHERE run_id::text = %s", (claimed_by, seconds, run_id))


@pytest.mark.slow
def test_a_copy_that_lost_its_lease_does_not_end_the_run_and_the_holder_does(tmp_path: Path) -> None:
    """Another copy takes the lease while the first one is mid-run (as after a reaper took over an expired
    lease): the first copy runs to its end but may not finalize the run; when the other copy's lease runs out
    the run is queued again and ends once, with the uninterrupted result. Heartbeats are 50 s apart, so the
    first copy cannot notice the loss before it ends (the check at finalize is what is tested)."""
    timings = {"lease": 120, "heartbeat": 50, "reaper": 2}
    with aegra(ROOT / "langgraph.json", tmp_path, takeover=timings, RECODE_TEST_LATENCY="3") as (server,):
        (client,) = clients([server])
        db = server.database_url
        thread = client.threads.create()["thread_id"]
        run = client.runs.create(thread, "recode", input={"instruction": "Ada"}, context=SLOW)["run_id"]
        row = wait_for(lambda: (r := run_rows(db, [run])[run])["status"] == "running" and r["claimed_by"] and r,
                       60, "the run to be claimed")
        claim = row["claimed_by"]
        assert owner_pid(row) == server.pid and claim.rsplit("-", 1)[0].endswith(("-worker-0", "-worker-1")), claim
        set_lease(db, run, "elsewhere-1-worker-0", 3600)  # another copy holds the run now

        def graph_done() -> bool:
            state = client.threads.get_state(thread)
            return not state["next"] and state["values"].get("status") == "success"

        wait_for(graph_done, 120, "the first copy to run the graph to its end")
        time.sleep(3)  # the first copy finalizes right after its last step
        row = run_rows(db, [run])[run]
        assert (row["status"], row["claimed_by"]) == ("running", "elsewhere-1-worker-0"), row
        assert "lost before the run ended" in (tmp_path / "server-0.log").read_text(errors="replace")

        set_lease(db, run, "elsewhere-1-worker-0", -1)  # the other copy died: its lease has run out
        wait_for(lambda: run_rows(db, [run])[run]["status"] in FINAL, 120, "the reaper's retry to end the run")
        row = run_rows(db, [run])[run]
        assert (row["status"], row["retries"], row["claimed_by"]) == ("success", 1, None), row
        state = client.threads.get_state(thread)
        assert not state["next"] and state["values"]["answer"] == "Hello, Ada!"
        assert client.runs.join(thread, run)["answer"] == "Hello, Ada!"


BLOCK_ENDINGS = """
CREATE TABLE block_endings (on_ boolean);
INSERT INTO block_endings VALUES (true);
CREATE FUNCTION block_endings() RETURNS trigger AS $$ BEGIN
  IF OLD.status = 'running' AND NEW.status <> 'running' AND EXISTS (SELECT 1 FROM block_endings) THEN
    RAISE EXCEPTION 'the end of this run cannot be recorded now';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER block_endings BEFORE UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION block_endings();
"""


@pytest.mark.slow
def test_a_run_whose_end_could_not_be_recorded_is_run_again_not_left_running(tmp_path: Path) -> None:
    """The copy's writes of the run's end fail (as while Postgres is out of reach; here a trigger refuses them):
    the run must not stay ``running`` with no lease, which no reaper looks at; its lease is left to run out,
    the reaper queues it again, and it ends ``success`` with the uninterrupted answer."""
    import psycopg

    with aegra(ROOT / "langgraph.json", tmp_path, RECODE_TEST_LATENCY="1") as (server,):
        (client,) = clients([server])
        with psycopg.connect(server.database_url, autocommit=True) as conn:
            conn.execute(BLOCK_ENDINGS)
        thread = client.threads.create()["thread_id"]
        run = client.runs.create(thread, "recode", input={"instruction": "Ada"}, context=SLOW)["run_id"]
        log = tmp_path / "server-0.log"
        wait_for(lambda: "without its end recorded" in log.read_text(errors="replace"), 120,
                 "the copy to give the run back to the reaper")
        assert run_rows(server.database_url, [run])[run]["status"] == "running"
        with psycopg.connect(server.database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM block_endings")
        wait_for(lambda: run_rows(server.database_url, [run])[run]["status"] in FINAL, 120, "the run to end")
        row = run_rows(server.database_url, [run])[run]
        assert (row["status"], row["retries"], row["claimed_by"]) == ("success", 1, None), row
        assert client.threads.get_state(thread)["values"]["answer"] == "Hello, Ada!"


def mail_slow(tmp_path: Path) -> tuple[Path, Path]:
    """A langgraph.json serving tests/studio_graph.py's ``mail_slow`` graph, and the file its sends go to."""
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"dependencies": [str(ROOT)],
                                  "graphs": {"mail_slow": f"{ROOT / 'tests' / 'studio_graph.py'}:slow"}}))
    return config, tmp_path / "sent.tsv"


@pytest.mark.slow
def test_a_side_effect_runs_once_across_a_takeover(tmp_path: Path) -> None:
    config, sent = mail_slow(tmp_path)
    with aegra(config, tmp_path, processes=2, RECODE_TEST_SENT=str(sent), RECODE_TEST_PAUSE="8") as servers:
        cs = clients(servers)
        reference = cs[0].threads.create()["thread_id"]
        state = cs[0].runs.wait(reference, "mail_slow", input={"instruction": "mail bob"})
        assert state["status"] == "success" and state["answer"] == "sent to bob@example.org"
        expected = outcome(state)
        assert sends(sent) == ["bob@example.org\thi"]

        thread = cs[0].threads.create()["thread_id"]
        run = cs[0].runs.create(thread, "mail_slow", input={"instruction": "mail bob"})["run_id"]
        wait_for(lambda: len(sends(sent)) == 2, 60, "the mail to be sent")  # now in the pause after it
        db = servers[0].database_url
        victim, in_flight, _ = kill_owner(servers, db, [run])
        assert in_flight == [run]
        survivor = cs[1 - servers.index(victim)]
        wait_for(lambda: run_rows(db, [run])[run]["status"] in FINAL, 120, "the taken-over run", interval=1.0)
        row = run_rows(db, [run])[run]
        assert row["status"] == "success" and row["retries"] == 1, row
        assert outcome(survivor.threads.get_state(thread)["values"]) == expected
        assert sends(sent) == ["bob@example.org\thi"] * 2  # one real send per episode: none repeated


@pytest.mark.slow
def test_a_side_effect_cut_off_mid_call_is_not_run_again_but_asked_about(tmp_path: Path) -> None:
    """Killed after the mail left but before its result was recorded: the process taking over cannot know
    whether it left, so it does not send again; the run pauses for a decision (side_effects' uncertain call)."""
    config, sent = mail_slow(tmp_path)
    with aegra(config, tmp_path, processes=2, RECODE_TEST_SENT=str(sent), RECODE_TEST_SEND_PAUSE="8") as servers:
        cs = clients(servers)
        thread = cs[0].threads.create()["thread_id"]
        run = cs[0].runs.create(thread, "mail_slow", input={"instruction": "mail bob"})["run_id"]
        wait_for(lambda: len(sends(sent)) == 1, 60, "the mail to be sent")  # now inside send_email
        db = servers[0].database_url
        victim, in_flight, _ = kill_owner(servers, db, [run])
        assert in_flight == [run]
        survivor = cs[1 - servers.index(victim)]
        wait_for(lambda: run_rows(db, [run])[run]["status"] in FINAL, 120, "the taken-over run", interval=1.0)
        assert run_rows(db, [run])[run]["status"] == "interrupted"
        request = survivor.threads.get_state(thread)["tasks"][0]["interrupts"][0]["value"]
        assert request["side_effect"]["state"] == "intent stored, no result"
        assert request["review_configs"][0]["allowed_decisions"] == ["approve", "respond", "reject"]
        assert sends(sent) == ["bob@example.org\thi"]  # not sent a second time
        state = survivor.runs.wait(thread, "mail_slow", command={"resume": {"decisions": [
            {"type": "respond", "message": "sent to bob@example.org"}]}})
        assert state["status"] == "success" and state["answer"] == "sent to bob@example.org"
        assert sends(sent) == ["bob@example.org\thi"]
