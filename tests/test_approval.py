"""Human approval of expansions and actions, exactly-once primitives across interrupts, time travel."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.persistence.timetravel import reexpand


def approve() -> Command:
    return Command(resume={"decisions": [{"type": "approve"}]})


def mail_tools(log: list[Any]) -> list[Any]:
    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        log.append(("add", a, b))
        return a + b

    @tool
    def send_email(to: str, body: str) -> str:
        """Send an email to someone."""
        log.append(("send_email", to, body))
        return f"sent to {to}"

    return [add, send_email]


BLOCK = ("total = 0\nfor i in range(1, 4):\n    total = add(total, i)\n    if i == 3:\n"
         "        receipt = send_email('bob', str(total))\nfinal_answer(receipt)")


def test_action_review_interrupts_mid_block_and_resume_runs_each_call_once() -> None:
    log: list[Any] = []
    graph = create_recode_agent(ScriptedChatModel(responses=[expansion("", BLOCK)]), tools=mail_tools(log),
                                checkpointer=InMemorySaver(), approve={"send_email"})
    cfg = {"configurable": {"thread_id": "mail"}}
    out = graph.invoke({"instruction": "sum and mail"}, cfg)
    request = out["__interrupt__"][0].value
    assert request["action_requests"] == [{
        "name": "send_email", "args": {"to": "bob", "body": "6"},
        "description": "Tool execution requires approval\n\nTool: send_email\nArgs: {'to': 'bob', 'body': '6'}"}]
    assert request["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject", "respond"]
    assert log == [("add", 0, 1), ("add", 1, 2), ("add", 3, 3)]
    # a malformed answer keeps the run interrupted, with the reason
    out = graph.invoke(Command(resume={"decisions": [{"type": "maybe"}]}), cfg)
    assert "decision type must be one of" in out["__interrupt__"][0].value["error"]
    out = graph.invoke(Command(resume="yes"), cfg)
    assert "__interrupt__" in out and graph.get_state(cfg).next == ("execute",)
    edit = {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "alice", "body": "six"}}}
    out = graph.invoke(Command(resume={"decisions": [edit]}), cfg)
    assert out["status"] == "success" and out["answer"] == "sent to alice"
    # the three additions ran once although the node ran three times; the mail went once, edited
    assert log == [("add", 0, 1), ("add", 1, 2), ("add", 3, 3), ("send_email", "alice", "six")]
    assert [s["name"] for s in out["trajectory"]] == ["add", "add", "add", "send_email", "final_answer"]


def test_rejected_action_goes_back_to_the_model_as_feedback() -> None:
    log: list[Any] = []
    model = ScriptedChatModel(by_call={
        "solve": expansion("", "receipt = send_email('bob', 'hi')\nfinal_answer(receipt)"),
        "repair:send_email": expansion("", "receipt = 'not sent'"),
    })
    graph = create_recode_agent(model, tools=mail_tools(log), checkpointer=InMemorySaver(), approve="actions")
    cfg = {"configurable": {"thread_id": "rej"}}
    graph.invoke({"instruction": "mail bob"}, cfg)
    out = graph.invoke(Command(resume={"decisions": [{"type": "reject", "message": "never mail bob"}]}), cfg)
    assert out["answer"] == "not sent" and log == []
    assert any("the reviewer rejected send_email" in p and "never mail bob" in p for p in model.calls)


def test_expansion_review_approve_edit_reject_without_paying_twice() -> None:
    model = ScriptedChatModel(by_call={
        "solve": [expansion("plan", "word = pick_word()\nfinal_answer(word)"),
                  expansion("plan again", "word = pick_word()\nfinal_answer(word.upper())")],
        "pick_word": expansion("pick", "word = 'apple'"),
    })
    graph = create_recode_agent(model, checkpointer=InMemorySaver(), approve="expansions")
    cfg = {"configurable": {"thread_id": "rev"}}
    out = graph.invoke({"instruction": "a fruit"}, cfg)
    request = out["__interrupt__"][0].value["action_requests"][0]
    assert request["name"] == "expansion" and "pick_word()" in request["args"]["code"]
    assert len(model.calls) == 1
    out = graph.invoke(Command(resume={"decisions": [{"type": "reject", "message": "shout it"}]}), cfg)
    assert len(model.calls) == 2 and "Reviewer feedback:\nshout it" in model.calls[1]
    out = graph.invoke(approve(), cfg)  # the second plan
    assert "pick_word" in out["__interrupt__"][0].value["action_requests"][0]["args"]["call"]
    bad = {"type": "edit", "edited_action": {"name": "expansion", "args": {"code": "import os"}}}
    out = graph.invoke(Command(resume={"decisions": [bad]}), cfg)
    assert "edited code rejected" in out["__interrupt__"][0].value["error"]
    good = {"type": "edit", "edited_action": {"name": "expansion", "args": {"code": "word = 'pear'"}}}
    out = graph.invoke(Command(resume={"decisions": [good]}), cfg)
    assert out["status"] == "success" and out["answer"] == "PEAR"
    assert len(model.calls) == 3 and out["usage"]["calls"] == 3


def test_time_travel_reexpands_a_node_on_a_new_branch() -> None:
    model = ScriptedChatModel(by_call={
        "solve": expansion("", "word = pick_word()\nfinal_answer(word)"),
        "pick_word": [expansion("", "word = 'apple'"), expansion("", "word = 'plum'")],
    })
    graph = create_recode_agent(model, checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "tt"}}
    first = graph.invoke({"instruction": "a fruit"}, cfg)
    assert first["answer"] == "apple"
    node = next(n["id"] for n in first["tree"].values() if n["code"] == "word = pick_word()")
    before = len(list(graph.get_state_history(cfg)))
    edited = reexpand(graph, cfg, node, code="word = 'cherry'")
    assert graph.invoke(None, edited)["answer"] == "cherry"
    again = reexpand(graph, cfg, node, feedback="another fruit please")
    out = graph.invoke(None, again)
    assert out["answer"] == "plum" and "another fruit please" in model.calls[-1]
    history = list(graph.get_state_history(cfg))
    assert len(history) > before and any(s.values.get("answer") == "apple" for s in history)
    with pytest.raises(ValueError, match="no checkpoint"):
        reexpand(graph, cfg, "999", code="x = 1")


def test_action_review_and_exactly_once_under_async_runs() -> None:
    import asyncio

    log: list[Any] = []
    graph = create_recode_agent(ScriptedChatModel(responses=[expansion("", BLOCK)]), tools=mail_tools(log),
                                checkpointer=InMemorySaver(), approve={"send_email"})
    cfg = {"configurable": {"thread_id": "async-mail"}}

    async def scenario() -> dict[str, Any]:
        out = await graph.ainvoke({"instruction": "sum and mail"}, cfg)
        assert out["__interrupt__"][0].value["action_requests"][0]["args"] == {"to": "bob", "body": "6"}
        return await graph.ainvoke(approve(), cfg)

    out = asyncio.run(scenario())
    assert out["answer"] == "sent to bob"
    assert log == [("add", 0, 1), ("add", 1, 2), ("add", 3, 3), ("send_email", "bob", "6")]


def test_the_agent_runs_as_a_subgraph_with_approval_through_the_parent() -> None:
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    class Parent(TypedDict, total=False):
        instruction: str
        answer: str
        status: str
        summary: str

    log: list[Any] = []
    model = ScriptedChatModel(by_call={"solve": expansion("mail", "receipt = send_email('bob', 'hi')\n"
                                                                  "final_answer(receipt)")})
    agent = create_recode_agent(model, tools=mail_tools(log), approve={"send_email"}, checkpointer=True)
    builder = StateGraph(Parent)
    builder.add_node("recode", agent)
    builder.add_node("report", lambda s: {"summary": f"{s['status']}: {s['answer']}"})
    builder.add_edge(START, "recode")
    builder.add_edge("recode", "report")
    builder.add_edge("report", END)
    app = builder.compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "parent"}}
    paused = app.invoke({"instruction": "mail bob"}, cfg)
    (request,) = paused["__interrupt__"]
    assert request.value["action_requests"][0]["name"] == "send_email" and log == []
    out = app.invoke(approve(), cfg)
    assert out["summary"] == "success: sent to bob" and log == [("send_email", "bob", "hi")]
    sub = app.get_state(cfg, subgraphs=True)
    assert sub.values["summary"] == "success: sent to bob"


def test_an_insisted_proposal_can_be_approved_but_an_edit_is_checked() -> None:
    stubborn = expansion("copied", "x = 1\nfinal_answer(str(x + missing))")

    def agent() -> Any:
        model = ScriptedChatModel(by_call={"solve": [stubborn, stubborn],
                                           "repair:final_answer": expansion("fix", "final_answer(str(x))")})
        return create_recode_agent(model, approve="expansions", checkpointer=InMemorySaver())

    graph, cfg = agent(), {"configurable": {"thread_id": "approve"}}
    paused = graph.invoke({"instruction": "x"}, cfg)  # the first answer is hinted, the repeat is proposed
    assert "missing" in paused["__interrupt__"][0].value["action_requests"][0]["args"]["code"]
    out = graph.invoke(approve(), cfg)
    while "__interrupt__" in out:  # the repair of the failing statement is reviewed too
        out = graph.invoke(approve(), cfg)
    assert out["status"] == "success" and out["answer"] == "1"

    graph, cfg = agent(), {"configurable": {"thread_id": "edit"}}
    graph.invoke({"instruction": "x"}, cfg)
    bad_edit = {"type": "edit", "edited_action": {"name": "expansion", "args": {"code": "final_answer(nope)"}}}
    again = graph.invoke(Command(resume={"decisions": [bad_edit]}), cfg)  # a human's code is checked
    assert "Your code reads nope" in again["__interrupt__"][0].value["error"]
    again = graph.invoke(approve(), cfg)  # approving the rejected edit as it stands is refused again
    assert "Your code reads nope" in again["__interrupt__"][0].value["error"]


def inbox(answer: Any) -> Command:
    return Command(resume=[answer])


def test_agent_inbox_schema_requests_and_every_answer_kind() -> None:
    """approval_schema="agent-inbox": the request as langgraph's older HumanInterrupt, answered with accept /
    edit / response / ignore (or the decisions form); a bad answer re-asks with the reason in the description."""
    log: list[Any] = []
    model = ScriptedChatModel(by_call={"solve": expansion("", "r = send_email('bob', 'hi')\nfinal_answer(r)"),
                                       "repair:send_email": expansion("", "final_answer('not sent')")})
    graph = create_recode_agent(model, tools=mail_tools(log), checkpointer=InMemorySaver(),
                                approve={"send_email": {"allowed_decisions": ["approve", "edit", "reject"]}},
                                approval_schema="agent-inbox")
    runs = iter(range(100))

    def paused() -> tuple[dict[str, Any], dict[str, Any]]:
        cfg = {"configurable": {"thread_id": f"t{next(runs)}"}}
        out = graph.invoke({"instruction": "mail bob"}, cfg)
        return cfg, out["__interrupt__"][0].value

    cfg, request = paused()
    assert request[0].pop("digest").startswith("sha256:")  # what the answer binds to (approvals.binding)
    assert request == [{"action_request": {"action": "send_email", "args": {"to": "bob", "body": "hi"}},
                        "config": {"allow_accept": True, "allow_edit": True, "allow_respond": True,
                                   "allow_ignore": True},
                        "description": "Tool execution requires approval\n\nTool: send_email\n"
                                       "Args: {'to': 'bob', 'body': 'hi'}"}]
    out = graph.invoke(inbox({"type": "maybe"}), cfg)
    assert out["__interrupt__"][0].value[0]["description"].startswith("**Answer refused: resume with [{'type'")
    edited = {"type": "edit", "args": {"action": "send_email", "args": {"to": "ann", "body": "yo"}}}
    assert graph.invoke(inbox(edited), cfg)["answer"] == "sent to ann"
    assert log == [("send_email", "ann", "yo")]
    cfg, _ = paused()
    assert graph.invoke(inbox({"type": "accept", "args": None}), cfg)["answer"] == "sent to bob"
    cfg, _ = paused()  # "response" is a rejection with the reviewer's words when respond is not allowed
    assert graph.invoke(inbox({"type": "response", "args": "not today"}), cfg)["answer"] == "not sent"
    cfg, _ = paused()
    assert graph.invoke(inbox({"type": "ignore", "args": None}), cfg)["answer"] == "not sent"
    cfg, _ = paused()  # the decisions form still works (the CLI and the SDK examples send it)
    assert graph.invoke(approve(), cfg)["answer"] == "sent to bob"
    assert log == [("send_email", "ann", "yo"), ("send_email", "bob", "hi"), ("send_email", "bob", "hi")]
    cfg, _ = paused()  # an edit naming another action is refused in this form too
    out = graph.invoke(inbox({"type": "edit", "args": {"action": "add", "args": {"a": 1, "b": 2}}}), cfg)
    assert "cannot change the action" in out["__interrupt__"][0].value[0]["description"]


def test_agent_inbox_schema_for_expansions_and_a_mistyped_schema() -> None:
    model = ScriptedChatModel(responses=[expansion("", "final_answer('first')"),
                                         expansion("", "final_answer('second')")])
    graph = create_recode_agent(model, checkpointer=InMemorySaver(), approve="expansions",
                                approval_schema="agent-inbox")
    cfg = {"configurable": {"thread_id": "x"}}
    request = graph.invoke({"instruction": "answer"}, cfg)["__interrupt__"][0].value[0]
    assert request["action_request"]["action"] == "expansion"
    assert request["action_request"]["args"]["code"] == "final_answer('first')"
    assert request["config"] == {"allow_accept": True, "allow_edit": True, "allow_respond": True,
                                 "allow_ignore": True}
    out = graph.invoke(inbox({"type": "response", "args": "answer differently"}), cfg)  # feedback: re-expand
    assert out["__interrupt__"][0].value[0]["action_request"]["args"]["code"] == "final_answer('second')"
    assert graph.invoke(inbox({"type": "accept", "args": None}), cfg)["answer"] == "second"
    for bad in ("agent_inbox", "", None, "Agent-Inbox"):
        with pytest.raises(ValueError, match="approval_schema must be one of 'langchain', 'agent-inbox'"):
            create_recode_agent(model, approve="expansions", approval_schema=bad)  # type: ignore[arg-type]
