"""Every decision type of the middleware's {"decisions": [...]} resume format through a real `langgraph dev` and
through Aegra (langgraph-sdk), with review configured from the run context; a bad context is a run error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, aegra, serve

REVIEW = {"send_email": {"allowed_decisions": ["approve", "edit", "reject", "respond"],
                         "description": "Mail leaves the building"}}


@pytest.fixture(scope="module", params=["langgraph_dev", "aegra"])
def mail_server(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("mailserver")
    config = base / "langgraph.json"
    config.write_text(json.dumps({"dependencies": [str(ROOT)],
                                  "graphs": {"mail": f"{ROOT / 'tests' / 'studio_graph.py'}:graph",
                                             "mail_approving": f"{ROOT / 'tests' / 'studio_graph.py'}:approving",
                                             "mail_shift": f"{ROOT / 'tests' / 'studio_graph.py'}:shifting"}}))
    sent = base / "sent.tsv"
    env = {"RECODE_TEST_SENT": str(sent), "RECODE_TEST_PROBE": str(base / "probe.flag")}
    if request.param == "aegra":
        with aegra(config, base, **env) as servers:
            yield servers[0].url, sent
        return
    with serve(base, base / "server.log", ("--config", str(config)), **env) as url:
        yield url, sent


def fresh_thread(mail_server: tuple[str, Path]) -> tuple[Any, Path, list[str], str]:
    """A client of the mail server, its sent log, what was sent so far, and a new thread."""
    from langgraph_sdk import get_sync_client

    url, sent = mail_server
    client = get_sync_client(url=url)
    return client, sent, sends(sent), client.threads.create()["thread_id"]


def sends(sent: Path) -> list[str]:
    return sent.read_text().splitlines() if sent.exists() else []


def paused(client: Any, thread: str) -> dict[str, Any]:
    state = client.runs.wait(thread, "mail", input={"instruction": "mail bob"}, context={"approve": REVIEW})
    request = state["__interrupt__"][0]["value"]
    assert request["action_requests"][0] == {"name": "send_email", "args": {"to": "bob@example.org", "body": "hi"},
                                             "description": "Mail leaves the building"}
    assert request["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject", "respond"]
    return state


def resume(client: Any, thread: str, decision: dict[str, Any]) -> dict[str, Any]:
    return client.runs.wait(thread, "mail", command={"resume": {"decisions": [decision]}},
                            context={"approve": REVIEW})


DECISIONS: list[tuple[dict[str, Any], str, list[str]]] = [
    ({"type": "approve"}, "sent to bob@example.org", ["bob@example.org\thi"]),
    ({"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "ann@example.org", "body": "yo"}}},
     "sent to ann@example.org", ["ann@example.org\tyo"]),
    ({"type": "reject", "message": "not today"}, "not sent", []),
    ({"type": "respond", "message": "queued"}, "queued", []),
]


@pytest.mark.slow
def test_each_decision_type_over_the_server(mail_server: tuple[str, Path]) -> None:
    from langgraph_sdk import get_sync_client

    url, sent = mail_server
    client = get_sync_client(url=url)
    for decision, answer, mails in DECISIONS:
        before = sends(sent)
        thread = client.threads.create()["thread_id"]
        paused(client, thread)
        if decision["type"] == "edit":  # an edit naming another tool comes back with the error
            wrong = {"type": "edit", "edited_action": {"name": "lookup", "args": {"name": "x"}}}
            state = resume(client, thread, wrong)
            assert "cannot change the action" in state["__interrupt__"][0]["value"]["error"]
        state = resume(client, thread, decision)
        assert state["status"] == "success" and state["answer"] == answer, (decision, state.get("reason"))
        assert sends(sent)[len(before):] == mails, decision
        if decision["type"] == "reject":
            history = client.threads.get_history(thread, limit=50)
            assert any("not today" in str(h["values"].get("tree", {})) for h in history)


@pytest.mark.slow
def test_a_bad_approve_in_the_context_fails_the_run_over_the_server(mail_server: tuple[str, Path]) -> None:
    client, sent, before, thread = fresh_thread(mail_server)
    run = client.runs.create(thread, "mail", input={"instruction": "mail bob"},
                             context={"approve": {"send_emial": True}})
    client.runs.join(thread, run["run_id"])
    assert client.runs.get(thread, run["run_id"])["status"] == "error"
    assert sends(sent) == before


@pytest.mark.slow
def test_approvals_set_in_code_load_and_pause_under_the_server(mail_server: tuple[str, Path]) -> None:
    client, sent, before, thread = fresh_thread(mail_server)
    state = client.runs.wait(thread, "mail_approving", input={"instruction": "mail bob"})
    request = state["__interrupt__"][0]["value"]["action_requests"][0]
    assert request["name"] == "send_email" and sends(sent) == before  # paused before the side effect
    state = client.runs.wait(thread, "mail_approving", command={"resume": {"decisions": [{"type": "approve"}]}})
    assert state["status"] == "success" and state["answer"] == "sent to bob@example.org"
    assert sends(sent)[len(before):] == ["bob@example.org\thi"]
    calls = [m["tool_calls"][0]["name"] for m in state["messages"] if m["type"] == "ai" and m.get("tool_calls")]
    assert calls == ["lookup", "send_email"]  # the chat shows the work


@pytest.mark.slow
def test_an_answer_given_for_another_call_is_asked_again_over_the_server(mail_server: tuple[str, Path]) -> None:
    """The re-run on resume computes another recipient (tests/studio_graph.py ``shifting``): the stored answers
    are not applied to it; it is asked again, saying what changed, and only the call approved then is sent."""
    client, sent, before, thread = fresh_thread(mail_server)
    flag = sent.parent / "probe.flag"
    flag.write_text("review probe")
    state = client.runs.wait(thread, "mail_shift", input={"instruction": "mail"})
    assert state["__interrupt__"][0]["value"]["action_requests"][0]["name"] == "probe"
    state = client.runs.wait(thread, "mail_shift", command={"resume": {"decisions": [
        {"type": "respond", "message": "fake"}]}})
    request = state["__interrupt__"][0]["value"]
    assert request["action_requests"][0]["args"] == {"to": "fake@corp.example", "body": "hi"}
    flag.unlink()  # the re-run runs probe() for real: x == 'real', one interrupt fewer before send_email
    state = client.runs.wait(thread, "mail_shift", command={"resume": {"decisions": [{"type": "approve"}]}})
    again = state["__interrupt__"][0]["value"]
    assert again["action_requests"][0]["args"] == {"to": "real@corp.example", "body": "hi"}
    assert "nothing ran" in again["error"] and again["previous"]["args"]["to"] == "fake@corp.example"
    assert sends(sent) == before  # nothing was sent on an answer given for another call
    state = client.runs.wait(thread, "mail_shift", command={"resume": {"decisions": [{"type": "approve"}]}})
    assert state["status"] == "success" and state["answer"] == "sent to real@corp.example"
    assert sends(sent)[len(before):] == ["real@corp.example\thi"]
