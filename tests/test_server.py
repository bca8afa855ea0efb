"""The served graph under a real ``langgraph dev`` server (and, but for the bench, under Aegra), driven through
langgraph-sdk."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SERVERS

from recode_graph.engine.episode import ep


@pytest.fixture(scope="module")
def server(langgraph_server: str) -> str:
    return langgraph_server


@pytest.fixture(scope="module", params=SERVERS)
def any_server(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


@pytest.mark.slow
def test_episode_with_approval_over_the_server(any_server: str) -> None:
    server = any_server
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=server)
    assistants = client.assistants.search(graph_id="recode")
    assert assistants, "graph 'recode' not served"
    thread = client.threads.create()
    context = {"model": "scripted:hello", "approve": "expansions"}
    state = client.runs.wait(thread["thread_id"], "recode", input={"instruction": "Ada"}, context=context)
    interrupts = state.get("__interrupt__") or []
    assert interrupts, state
    request = interrupts[0]["value"]["action_requests"][0]
    assert request["name"] == "expansion" and "make_greeting(instruction)" in request["args"]["code"]
    # a malformed answer: still interrupted, with the reason
    state = client.runs.wait(thread["thread_id"], "recode", command={"resume": {"nope": 1}}, context=context)
    assert "decisions" in state["__interrupt__"][0]["value"]["error"]
    approve = {"decisions": [{"type": "approve"}]}
    state = client.runs.wait(thread["thread_id"], "recode", command={"resume": approve}, context=context)
    assert state["__interrupt__"][0]["value"]["action_requests"][0]["args"]["call"].startswith("greeting =")
    edit = {"decisions": [{"type": "edit", "edited_action": {"name": "expansion",
                                                             "args": {"code": "greeting = 'Hi ' + instruction"}}}]}
    state = client.runs.wait(thread["thread_id"], "recode", command={"resume": edit}, context=context)
    assert state["status"] == "success" and state["answer"] == "Hi Ada"
    final = client.threads.get_state(thread["thread_id"])
    assert final["values"]["answer"] == "Hi Ada" and not final["next"]
    history = client.threads.get_history(thread["thread_id"], limit=100)
    assert len(history) >= 6
    assert any(ep(h["values"], "proposal") for h in history)


@pytest.mark.slow
def test_bad_context_model_is_a_clear_run_error(any_server: str) -> None:
    server = any_server
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=server)
    thread = client.threads.create()
    run = client.runs.create(thread["thread_id"], "recode", input={"instruction": "x"},
                             context={"model": "scripted:no-such-fixture"})
    client.runs.join(thread["thread_id"], run["run_id"])
    run = client.runs.get(thread["thread_id"], run["run_id"])
    assert run["status"] == "error"


@pytest.mark.slow
def test_bench_runs_each_episode_as_a_server_thread(server: str, tmp_path: Path) -> None:
    import json

    from langgraph_sdk import get_sync_client

    from recode_graph.bench import harness

    pytest.importorskip("alfworld")
    result = harness.run_bench("alfworld", "seen", 1, "recode", "scripted:alfworld_generic", 1, tmp_path,
                               server=server, progress=False, plots=False)
    assert result["ran"] == 1
    (path,) = (tmp_path / "alfworld-seen" / "episodes" / "recode").glob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] in ("success", "failed") and record["usage"]["calls"] > 0 and record["tree"]
    assert record["settings"]["server"] == server and record["steps"] == len(record["trajectory"]) > 0
    thread = get_sync_client(url=server).threads.get(record["thread_id"])
    assert thread["metadata"]["task_id"] == record["task_id"] and thread["metadata"]["bench"] == "alfworld-seen/recode"
    again = harness.run_bench("alfworld", "seen", 1, "recode", "scripted:alfworld_generic", 1, tmp_path,
                              server=server, progress=False, plots=False)
    assert again["ran"] == 0 and again["skipped"] == 1  # a finished episode is not sent again
