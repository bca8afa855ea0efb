"""Several Aegra server processes sharing one Postgres (docs/serving.md): a thread moves between processes, a
cancel reaches the process running the run, and the runs of a process killed with SIGKILL are taken over by
another and end as an uninterrupted run does."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, aegra

SLOW = {"model": "slow_model:slow_hello"}  # two model calls of 1 s each


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Any]]:
    with aegra(ROOT / "langgraph.json", tmp_path_factory.mktemp("aegra2"), processes=2) as servers:
        yield servers


def clients(servers: list[Any]) -> list[Any]:
    from langgraph_sdk import get_sync_client

    return [get_sync_client(url=s.url) for s in servers]


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def outcome(values: dict[str, Any]) -> tuple[Any, ...]:
    """What an episode ended with, without the ids that differ between two runs."""
    messages = [(m["type"], m["content"]) for m in values.get("messages", [])]
    return values.get("status"), values.get("answer"), messages, len(values.get("trajectory") or [])


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
    wait_for(lambda: b.runs.get(thread, run)["status"] == "running", 10, "the run to start")
    b.runs.cancel(thread, run)
    time.sleep(4)  # the run would have ended by now
    assert a.runs.get(thread, run)["status"] == "interrupted"
    assert not a.threads.get_state(thread)["values"].get("answer")


@pytest.mark.slow
def test_runs_of_a_killed_process_are_taken_over_and_end_as_uninterrupted_runs(tmp_path: Path) -> None:
    with aegra(ROOT / "langgraph.json", tmp_path, processes=2) as servers:
        a, b = clients(servers)
        reference = b.threads.create()["thread_id"]
        b.runs.wait(reference, "recode", input={"instruction": "Ada"}, context=SLOW)
        expected = outcome(b.threads.get_state(reference)["values"])
        assert expected[:2] == ("success", "Hello, Ada!")

        runs = []
        for _ in range(6):
            thread = a.threads.create()["thread_id"]
            runs.append((thread, a.runs.create(thread, "recode", input={"instruction": "Ada"}, context=SLOW)["run_id"]))
        wait_for(lambda: all(b.runs.get(t, r)["status"] == "running" for t, r in runs), 20, "the runs to start")
        time.sleep(1.2)  # some are past their first model call
        servers[0].proc.send_signal(signal.SIGKILL)
        servers[0].proc.wait()
        in_flight = [(t, r) for t, r in runs if b.runs.get(t, r)["status"] == "running"]
        assert len(in_flight) == len(runs)

        def finished() -> bool:
            return all(b.runs.get(t, r)["status"] in ("success", "error", "interrupted") for t, r in runs)

        wait_for(finished, 60, "the taken-over runs to finish")
        for thread, run in runs:
            assert b.runs.get(thread, run)["status"] == "success"
            assert outcome(b.threads.get_state(thread)["values"]) == expected
            assert b.threads.get(thread)["status"] == "idle"
        assert servers[1].tail(200_000).count("taken over by") == len(runs)
