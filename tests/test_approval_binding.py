"""What a person approves is exactly what runs, once (issue 31): an answer binds to the content of the request
it was given for, side-effect records and replayed task results to the same tool and arguments.

The deterministic tests make the re-run compute other calls through a ``when`` predicate the test flips: a
probe reviewed (and answered with ``respond``) in the first run runs for real in the re-run, so the statement
takes another branch (an extra ``add()``), its interrupts shift by one and another recipient is computed."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, own_database
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from recode_graph import ScriptedChatModel, create_recode_agent, expansion, side_effects
from recode_graph.engine.episode import ep

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from binding_harness import agent, drive, read_request  # noqa: E402

SHIFTING = ("if True:\n"
            "    x = probe()\n"
            "    if x == 'real':\n"
            "        add(1, 2)\n"
            "    p = publish('note')\n"
            "    r = send_email(x + '@corp.example', 'hi')\n"
            "final_answer(p + ' / ' + r)")


def shifting_agent(calls: list[Any], review_probe: dict[str, bool], schema: str = "langchain",
                   mark_publish: bool = True, code: str = SHIFTING) -> Any:
    @tool
    def probe() -> str:
        """Probe."""
        calls.append(("probe",))
        return "real"

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        calls.append(("add", a, b))
        return a + b

    @tool
    def publish(text: str) -> str:
        """Publish a note."""
        calls.append(("publish", text))
        return f"published {text}"

    @tool
    def send_email(to: str, body: str) -> str:
        """Send an email."""
        calls.append(("send_email", to, body))
        return f"sent to {to}"

    model = ScriptedChatModel(by_call={"solve": expansion("", code),
                                       "repair:if": expansion("", "final_answer('stopped')")})
    approve = {"probe": {"allowed_decisions": ["respond"], "when": lambda request: review_probe["on"]},
               "send_email": True}
    tools = [probe, add, side_effects(publish) if mark_publish else publish, send_email]
    return create_recode_agent(model, tools=tools,
                               checkpointer=InMemorySaver(), approve=approve, approval_schema=schema)


def langchain_answer(decision: dict[str, Any], schema: str) -> Any:
    if schema == "langchain":
        return {"decisions": [decision]}
    kind = decision["type"]
    if kind == "approve":
        return [{"type": "accept", "args": None}]
    if kind == "edit":
        return [{"type": "edit", "args": {"action": decision["edited_action"]["name"],
                                          "args": decision["edited_action"]["args"]}}]
    if kind == "respond":
        return [{"type": "response", "args": decision["message"]}]
    return [{"type": "ignore", "args": None}]


def paused_on_send(schema: str, mark_publish: bool = True
                   ) -> tuple[Any, dict[str, Any], list[Any], dict[str, bool]]:
    """The run paused at send_email to 'fake@corp.example' after the probe was answered with 'fake'."""
    calls: list[Any] = []
    review = {"on": True}
    graph = shifting_agent(calls, review, schema, mark_publish)
    cfg = {"configurable": {"thread_id": f"shift-{schema}"}}
    out = graph.invoke({"instruction": "go"}, cfg)
    assert read_request(out["__interrupt__"][0].value)["name"] == "probe"
    out = graph.invoke(Command(resume=langchain_answer({"type": "respond", "message": "fake"}, schema)), cfg)
    request = read_request(out["__interrupt__"][0].value)
    assert (request["name"], request["args"]) == ("send_email", {"to": "fake@corp.example", "body": "hi"})
    assert calls == [("publish", "note")]
    return graph, cfg, calls, review


@pytest.mark.parametrize("schema", ["langchain", "agent-inbox"])
@pytest.mark.parametrize("decision", [
    {"type": "approve"},
    {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "ed@corp.example", "body": "yo"}}},
    {"type": "respond", "message": "queued"},
    {"type": "reject", "message": "no"},
])
def test_an_answer_for_another_call_is_not_applied_the_new_call_is_asked(schema: str, decision: dict[str, Any]
                                                                         ) -> None:
    graph, cfg, calls, review = paused_on_send(schema)
    review["on"] = False  # the re-run computes another recipient, with one interrupt fewer before it
    out = graph.invoke(Command(resume=langchain_answer(decision, schema)), cfg)
    # the stored answers were for probe() and send_email('fake...'): neither is applied to send_email('real...')
    again = read_request(out["__interrupt__"][0].value)
    assert (again["name"], again["args"]) == ("send_email", {"to": "real@corp.example", "body": "hi"})
    assert again["error"] and again["previous"]["name"] in ("probe", "send_email")
    assert not any(c[0] == "send_email" for c in calls)
    # publish (at most once) kept its result although an extra add() now runs before it; probe ran for real
    assert calls == [("publish", "note"), ("probe",), ("add", 1, 2)]
    while "__interrupt__" in out:  # the shifted answers come up once each, then the new call is decided
        request = read_request(out["__interrupt__"][0].value)
        assert request["args"]["to"] == "real@corp.example"
        out = graph.invoke(Command(resume=langchain_answer(decision, schema)), cfg)
    sent = [c for c in calls if c[0] == "send_email"]
    if decision["type"] == "approve":
        assert sent == [("send_email", "real@corp.example", "hi")]
        assert out["answer"].endswith("sent to real@corp.example")
    elif decision["type"] == "edit":
        assert sent == [("send_email", "ed@corp.example", "yo")]
    elif decision["type"] == "respond":
        assert sent == [] and out["answer"] == "published note / queued"
    else:
        assert sent == [] and out["answer"] == "stopped"
    assert calls.count(("publish", "note")) == 1


def test_the_message_says_what_changed_and_a_stale_digest_is_refused() -> None:
    graph, cfg, calls, review = paused_on_send("langchain")
    shown = graph.get_state(cfg).interrupts[0].value
    review["on"] = False
    out = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    request = out["__interrupt__"][0].value  # probe's answer and this one were both for other calls
    assert "nothing ran" in request["error"]
    assert request["previous"] == {"name": "send_email", "args": {"to": "fake@corp.example", "body": "hi"}}
    assert "to changed" in request["error"] and request["digest"] != shown["digest"]
    # a client that echoes the digest it was shown is refused when the request changed since
    out = graph.invoke(Command(resume={"decisions": [{"type": "approve", "digest": shown["digest"]}]}), cfg)
    assert "changed since it was shown" in out["__interrupt__"][0].value["error"]
    current = out["__interrupt__"][0].value["digest"]
    out = graph.invoke(Command(resume={"decisions": [{"type": "approve", "digest": current}]}), cfg)
    assert out["status"] == "success" and [c for c in calls if c[0] == "send_email"] == [
        ("send_email", "real@corp.example", "hi")]


def test_a_replayed_task_result_is_never_another_calls() -> None:
    """publish() (a plain tool: a LangGraph task) ran first at position 0; the re-run makes probe() the first
    call. Before: probe() got publish()'s recorded result (LangGraph replays task results by position)."""
    graph, cfg, calls, review = paused_on_send("langchain", mark_publish=False)
    review["on"] = False
    out = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    while "__interrupt__" in out:
        out = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    steps = {s["name"]: s for s in out["trajectory"]}
    assert steps["probe"]["output"] == "real" and steps["add"]["output"] == 3
    assert steps["publish"]["output"] == "published note"
    assert out["answer"] == "published note / sent to real@corp.example"


@pytest.mark.parametrize("decision", ["approve", "respond", "reject"])
def test_a_side_effect_call_that_differs_from_the_recorded_one_is_a_did_it_run_decision(decision: str) -> None:
    """publish('note fake') ran; the re-run computes publish('note real') in its place: not run silently."""
    calls: list[Any] = []
    review = {"on": True}
    graph = shifting_agent(calls, review, code=SHIFTING.replace("publish('note')", "publish('note ' + x)"))
    cfg = {"configurable": {"thread_id": f"conflict-{decision}"}}
    graph.invoke({"instruction": "go"}, cfg)
    out = graph.invoke(Command(resume={"decisions": [{"type": "respond", "message": "fake"}]}), cfg)
    assert calls == [("publish", "note fake")] and "__interrupt__" in out  # paused at send_email
    review["on"] = False
    out = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    request = out["__interrupt__"][0].value
    assert request["side_effect"]["state"] == "another call was recorded at this point"
    assert request["action_requests"][0]["args"] == {"text": "note real"}
    assert "publish with {'text': 'note fake'}: it ran" in request["action_requests"][0]["description"]
    assert ("publish", "note real") not in calls
    answer = {"type": decision, **({"message": "given"} if decision != "approve" else {})}
    out = graph.invoke(Command(resume={"decisions": [answer]}), cfg)
    while "__interrupt__" in out:  # send_email('real...'), asked again
        assert out["__interrupt__"][0].value["action_requests"][0]["name"] == "send_email"
        out = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    published = [c for c in calls if c[0] == "publish"]
    if decision == "approve":
        assert published == [("publish", "note fake"), ("publish", "note real")]
        assert out["answer"] == "published note real / sent to real@corp.example"
    elif decision == "respond":
        assert published == [("publish", "note fake")] and out["answer"] == "given / sent to real@corp.example"
    else:
        assert published == [("publish", "note fake")] and out["status"] == "failed"


def test_an_expansion_answer_does_not_approve_other_code() -> None:
    model = ScriptedChatModel(responses=[expansion("", "final_answer('first')")])
    graph = create_recode_agent(model, checkpointer=InMemorySaver(), approve="expansions")
    cfg = {"configurable": {"thread_id": "x"}}
    request = graph.invoke({"instruction": "answer"}, cfg)["__interrupt__"][0].value
    assert request["action_requests"][0]["args"]["code"] == "final_answer('first')"
    state = graph.get_state(cfg)
    proposal = {**ep(state.values, "proposal"), "code": "final_answer('swapped')"}
    graph.update_state(cfg, {"episode": {"proposal": proposal}}, as_node="expand")  # the code under review changes
    out = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    again = out["__interrupt__"][0].value
    assert again["action_requests"][0]["args"]["code"] == "final_answer('swapped')" and "nothing ran" in again["error"]
    out = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    assert out["answer"] == "swapped"


def test_two_identical_side_effect_calls_in_a_statement_are_two_calls_and_keys_follow_content() -> None:
    sent: list[Any] = []

    @tool
    def send(to: str, idempotency_key: str) -> str:
        """Send."""
        sent.append((to, idempotency_key))
        return f"sent {to}"

    @tool
    def check(x: int) -> int:
        """Check."""
        return x

    code = ("if True:\n    a = send('bob')\n    b = send('bob')\n    c = send('ann')\n    check(1)\n"
            "final_answer(a + b + c)")
    model = ScriptedChatModel(responses=[expansion("", code)])
    graph = create_recode_agent(model, tools=[side_effects(send), check], checkpointer=InMemorySaver(),
                                approve={"check"})
    cfg = {"configurable": {"thread_id": "twice"}}
    graph.invoke({"instruction": "go"}, cfg)
    out = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    assert out["status"] == "success" and [t for t, _ in sent] == ["bob", "bob", "ann"]  # each once
    keys = [k for _, k in sent]
    assert len(set(keys)) == 3 and keys[0].split("/")[:-2] == keys[1].split("/")[:-2]  # same content, 2 calls
    assert "/send/" in keys[0] and keys[0].split("/")[3] != keys[2].split("/")[3]  # the digest is the arguments'


# ---- the property test ---------------------------------------------------------------------------------

def summarize(thread: str, logs: list[dict[str, Any]], sends: list[dict[str, Any]], figures: Counter[str]) -> None:
    """Assert the promises for one thread; count what happened."""
    asked = [a for log in logs for a in log["asked"]]
    approved = []
    for a in asked:
        d = a["decision"]
        if a["name"] == "send_email" and d["type"] == "approve":
            approved.append(a["args"])
        if a["name"] == "send_email" and d["type"] == "edit":
            approved.append(d["edited_action"]["args"])
    mine = [s for s in sends if s["thread"] == thread]
    for s in mine:
        if s["tool"] == "send_email":
            assert s["args"] in approved, (thread, s, asked)  # every executed reviewed call was approved
    counts = Counter((s["tool"], json.dumps(s["args"], sort_keys=True)) for s in mine)
    assert max(counts.values(), default=0) <= 1, (thread, counts)  # at most once per distinct call
    given = {(a["name"], json.dumps(a["args"], sort_keys=True), a["decision"].get("message")) for a in asked
             if a["decision"]["type"] == "respond"}  # results a reviewer gave instead of a run
    trajectory = logs[-1].get("trajectory") or []
    for step in trajectory:
        if step["responded"] or (step["name"], json.dumps(step["args"], sort_keys=True), step["output"]) in given:
            continue
        if step["name"] == "send_email":
            assert step["output"] == f"sent {step['args']['to']}|{step['args']['body']}", step  # its own result
        elif step["name"] == "publish":
            assert step["output"] == f"published {step['args']['text']}", step
        elif step["name"] == "add":
            assert step["output"] == step["args"]["a"] + step["args"]["b"], step
    figures["runs"] += 1
    figures["requests"] += len(asked)
    figures["re-asks"] += sum(1 for a in asked if a["error"])  # every answer given is valid: these are binding
    figures["mismatches caught"] += sum(1 for a in asked if a["previous"] is not None)
    figures["did-it-run decisions"] += sum(1 for a in asked if a.get("side_effect"))
    figures["real side effects"] += len(mine)


def child(db: str, thread: str, seed: int, schema: str, sends: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(TESTS / "binding_child.py"), "--db", db, "--thread", thread,
                           "--seed", str(seed), "--schema", schema, "--sends", str(sends)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def saver(db: str) -> Any:
    sys.path.insert(0, str(TESTS))
    from binding_child import saver_for

    return saver_for(db)


def run_case(seed: int, schema: str, db: str | None, sends: Path, figures: Counter[str]) -> None:
    """One randomized run: paused at a random interrupt, resumed here (in-process sandbox: other heap
    addresses each run) or in a new process (new workers: other addresses and string hash seed)."""
    rng = random.Random(seed)
    thread = f"p{seed}-{schema}"
    checkpointer = saver(db) if db else InMemorySaver()
    graph = agent(seed, sends, thread, checkpointer, schema, executor="inprocess")
    cfg = {"configurable": {"thread_id": thread}}
    logs = [drive(graph, cfg, {"instruction": "go"}, rng, schema, stop_after=rng.randrange(3) if db else None)]
    if db and logs[0]["paused"] is not None:
        logs.append(child(db, thread, seed, schema, sends))
        figures["resumes in a new process"] += 1
        figures["mismatches caught in a new process"] += sum(1 for a in logs[-1]["asked"] if a["previous"])
    elif logs[0]["paused"] is not None:
        logs.append(drive(graph, cfg, "pending", rng, schema))
    records = [json.loads(line) for line in sends.read_text().splitlines()] if sends.exists() else []
    summarize(thread, logs, records, figures)


@pytest.mark.slow
def test_property_every_executed_call_was_approved_and_side_effects_ran_once(tmp_path: Path) -> None:
    started = time.monotonic()
    figures: Counter[str] = Counter()
    sends = tmp_path / "sends.jsonl"
    for seed in range(40):
        run_case(seed, ("langchain", "agent-inbox")[seed % 2], None, sends, figures)
    for seed in range(100, 106):
        run_case(seed, ("langchain", "agent-inbox")[seed % 2], str(tmp_path / "binding.sqlite"), sends, figures)
    with own_database("binding") as url:
        for seed in range(200, 204):
            run_case(seed, ("langchain", "agent-inbox")[seed % 2], url, sends, figures)
    print("\nbinding property test:", dict(figures), f"{time.monotonic() - started:.0f} s")
    assert figures["runs"] == 50 and figures["resumes in a new process"] >= 5
    addresses = create_recode_agent(ScriptedChatModel(responses=[expansion("", "final_answer(repr(iter([])))")]),
                                    executor="inprocess").invoke({"instruction": "repr"})["answer"]
    if " at 0x" in addresses:  # while the sandbox shows heap addresses, re-runs compute other calls
        assert figures["mismatches caught"] > 0
