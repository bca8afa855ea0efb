"""The served graph as a library user meets it under a real ``langgraph dev`` and under Aegra: chat, schemas,
errors, resume."""

from __future__ import annotations

import pytest
from conftest import SERVERS


@pytest.fixture(scope="module", params=SERVERS)
def client(request: pytest.FixtureRequest) -> object:
    from langgraph_sdk import get_sync_client

    return get_sync_client(url=request.getfixturevalue(request.param))


@pytest.mark.slow
def test_chat_messages_in_and_out_and_a_follow_up_turn(client: object) -> None:
    thread = client.threads.create()  # type: ignore[attr-defined]
    ctx = {"model": "scripted:hello"}
    state = client.runs.wait(thread["thread_id"], "recode",  # type: ignore[attr-defined]
                             input={"messages": [{"role": "user", "content": "Ada"}]}, context=ctx)
    assert state["answer"] == "Hello, Ada!"
    assert [m["type"] for m in state["messages"]] == ["human", "ai", "ai", "ai"]  # two expansions, the answer
    assert state["messages"][1]["content"].startswith("Expanding `solve(instruction, observation)`")
    answer = state["messages"][-1]
    assert answer["content"] == "Hello, Ada!" and answer["usage_metadata"]["total_tokens"] > 0
    state = client.runs.wait(thread["thread_id"], "recode",  # type: ignore[attr-defined]
                             input={"messages": [{"role": "user", "content": "Bob"}]}, context=ctx)
    turns = [m["content"] for m in state["messages"] if not m.get("response_metadata", {}).get("recode_kind")]
    assert turns == ["Ada", "Hello, Ada!", "Bob", "Hello, Bob!"]
    assert "session" not in state and "cursor" not in state


@pytest.mark.slow
def test_no_model_anywhere_is_a_run_error_naming_the_context_field(client: object) -> None:
    import os

    if os.environ.get("RECODE_MODEL") or os.environ.get("OPENAI_API_KEY"):
        pytest.skip("this server has a model configured")
    thread = client.threads.create()  # type: ignore[attr-defined]
    with pytest.raises(Exception) as info:
        client.runs.wait(thread["thread_id"], "recode", input={"instruction": "x"})  # type: ignore[attr-defined]
    assert str(info.value).startswith("ModelError: no model for this run: set the run context's `model` field")


@pytest.mark.slow
def test_schemas_show_public_fields_for_the_studio_form_and_chat(client: object) -> None:
    (assistant,) = client.assistants.search(graph_id="recode")  # type: ignore[attr-defined]
    schemas = client.assistants.get_schemas(assistant["assistant_id"])  # type: ignore[attr-defined]
    assert set(schemas["input_schema"]["properties"]) == {"messages", "instruction", "observation", "task_id"}
    outputs = set(schemas["output_schema"]["properties"])
    assert "messages" in outputs and "answer" in outputs and not outputs & {"session", "cursor", "pending"}
    assert "model" in schemas["context_schema"]["properties"]


@pytest.mark.slow
@pytest.mark.parametrize("model,message", [
    ("scripted:no-such-fixture", "ModelError: unknown scripted fixture 'no-such-fixture'"),
    ("nosuchprovider:some-model", "ModelError: unknown model spec 'nosuchprovider:some-model'"),
])
def test_a_bad_model_is_the_library_one_line_error_not_a_blocking_call(client: object, model: str,
                                                                      message: str) -> None:
    thread = client.threads.create()  # type: ignore[attr-defined]
    with pytest.raises(Exception) as info:
        client.runs.wait(thread["thread_id"], "recode", input={"instruction": "x"},  # type: ignore[attr-defined]
                         context={"model": model})
    assert str(info.value).startswith(message) and "Blocking" not in str(info.value)


@pytest.mark.slow
def test_approval_and_model_chosen_at_the_start_survive_a_resume_without_context(client: object) -> None:
    thread = client.threads.create()  # type: ignore[attr-defined]
    state = client.runs.wait(thread["thread_id"], "recode", input={"instruction": "Ada"},  # type: ignore[attr-defined]
                             context={"model": "scripted:hello", "approve": "expansions"})
    assert state["__interrupt__"][0]["value"]["action_requests"][0]["name"] == "expansion"
    approve = {"decisions": [{"type": "approve"}]}
    # resumed with no context: the approval (and the scripted model) chosen at the start still apply
    state = client.runs.wait(thread["thread_id"], "recode", command={"resume": approve})  # type: ignore[attr-defined]
    assert state["__interrupt__"][0]["value"]["action_requests"][0]["args"]["call"].startswith("greeting =")
    state = client.runs.wait(thread["thread_id"], "recode", command={"resume": approve})  # type: ignore[attr-defined]
    assert state["status"] == "success" and state["answer"] == "Hello, Ada!"


@pytest.mark.slow
def test_streaming_gives_updates_and_the_final_values(client: object) -> None:
    thread = client.threads.create()  # type: ignore[attr-defined]
    parts = list(client.runs.stream(thread["thread_id"], "recode", input={"instruction": "Ada"},  # type: ignore[attr-defined]
                                    context={"model": "scripted:hello"}, stream_mode=["updates", "values"]))
    kinds = [p.event for p in parts]
    assert "updates" in kinds and "values" in kinds, kinds
    values = [p.data for p in parts if p.event == "values"]
    assert values[-1]["answer"] == "Hello, Ada!" and values[-1]["status"] == "success"
    nodes = {node for p in parts if p.event == "updates" for node in p.data}
    assert len(nodes) >= 2, nodes


@pytest.mark.slow
def test_a_cancelled_run_stops_before_its_answer(client: object) -> None:
    import time

    thread = client.threads.create()["thread_id"]  # type: ignore[attr-defined]
    run = client.runs.create(thread, "recode", input={"instruction": "Ada"},  # type: ignore[attr-defined]
                             context={"model": "slow_hello"})
    deadline = time.monotonic() + 120  # a loaded server takes its time to pick the run up from its queue
    while (status := client.runs.get(thread, run["run_id"])["status"]) == "pending" \
            and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.1)
    assert status == "running"  # the first model call is under way (1 s each)
    client.runs.cancel(thread, run["run_id"], wait=True)  # type: ignore[attr-defined]
    assert client.runs.get(thread, run["run_id"])["status"] in ("interrupted", "cancelled")  # type: ignore[attr-defined]
    time.sleep(2.5)  # long enough for the rest of the run, had it gone on
    assert not client.threads.get_state(thread)["values"].get("answer")  # type: ignore[attr-defined]
