"""approve= fails closed and speaks LangChain's HumanInTheLoopMiddleware: interrupt_on, allowed decisions,
descriptions, respond, and bad answers that come back with an error instead of running anything."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.approvals.policy import DECISIONS, parse_approve
from recode_graph.context import RecodeContext


def mail_tools(log: list[Any]) -> list[Any]:
    @tool
    def lookup(name: str) -> str:
        """Look up someone's address."""
        log.append(("lookup", name))
        return f"{name}@example.org"

    @tool
    def send_email(to: str, body: str) -> str:
        """Send an email to someone."""
        log.append(("send_email", to, body))
        return f"sent to {to}"

    return [lookup, send_email]


MAIL = "addr = lookup('bob')\nreceipt = send_email(addr, 'hi')\nfinal_answer(receipt)"
NAMES = {"lookup", "send_email"}


def agent(approve: Any, log: list[Any], code: str = MAIL, **kwargs: Any) -> Any:
    model = ScriptedChatModel(responses=[expansion("", code)])
    return create_recode_agent(model, tools=mail_tools(log), checkpointer=InMemorySaver(), approve=approve,
                               **kwargs)


def decide(graph: Any, cfg: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    return graph.invoke(Command(resume={"decisions": [decision]}), cfg)


def request_of(out: dict[str, Any]) -> dict[str, Any]:
    return out["__interrupt__"][0].value


@pytest.mark.parametrize("value", [
    {"nonexistent_tool"}, "expansion", "Expansions", "sometimes", "send_email,nope", 42, 1.5, [1],
    {"send_email": "yes"}, {"send_email": {"allowed_decision": ["approve"]}},
    {"send_email": {"allowed_decisions": []}}, {"send_email": {"allowed_decisions": ["maybe"]}},
    {"send_email": {"allowed_decisions": ["approve"], "when": "always"}}, {"nope": True},
    {"expansions": {"allowed_decisions": ["respond"]}}, {"run": {"allowed_decisions": ["respond"]}},
    {"send_email": {"allowed_decisions": ["approve"], "description": 3}}, "{not json", "none,send_email", "",
    {"actions": True}, '["send_email"]',
])
def test_unknown_or_mistyped_values_are_errors_at_build_time(value: Any) -> None:
    if value == "":
        assert not parse_approve(value, NAMES).reviews_anything  # the empty string means no review, as None
        return
    with pytest.raises(ValueError, match="approve"):
        create_recode_agent(ScriptedChatModel(), tools=mail_tools([]), approve=value)


def test_every_accepted_form_parses_to_the_same_policy_everywhere() -> None:
    assert parse_approve(None, NAMES) == parse_approve("none", NAMES) == parse_approve(False, NAMES)
    both = parse_approve("all", NAMES)
    assert both == parse_approve(True, NAMES) == parse_approve("expansions,actions", NAMES)
    assert both.expansions is not None and both.for_action("lookup") is not None
    assert both.for_action("run").allowed == ("approve", "edit", "reject")  # an observation cannot be made up
    assert parse_approve({"send_email"}, NAMES) == parse_approve("send_email", NAMES) == parse_approve(
        ["send_email"], NAMES) == parse_approve({"send_email": True, "lookup": False}, NAMES) == parse_approve(
        '{"send_email": true, "lookup": false}', NAMES)
    mixed = parse_approve(["expansions", "send_email"], NAMES)
    assert mixed.expansions is not None and mixed.for_action("send_email").allowed == DECISIONS
    assert mixed.for_action("lookup") is None


def test_interrupt_on_true_false_reviews_only_the_true_tool() -> None:
    log: list[Any] = []
    graph, cfg = agent({"send_email": True, "lookup": False}, log), {"configurable": {"thread_id": "tf"}}
    out = graph.invoke({"instruction": "mail bob"}, cfg)
    assert request_of(out)["action_requests"][0]["name"] == "send_email" and log == [("lookup", "bob")]
    assert request_of(out)["review_configs"] == [{"action_name": "send_email",
                                                  "allowed_decisions": ["approve", "edit", "reject", "respond"]}]
    out = decide(graph, cfg, {"type": "approve"})
    assert out["answer"] == "sent to bob@example.org"


def test_allowed_decisions_and_description_are_the_configured_ones() -> None:
    log: list[Any] = []
    seen: list[Any] = []

    def describe(tool_call: dict[str, Any], state: Any, runtime: Any) -> str:
        seen.append((tool_call, state["instruction"], runtime.context))
        return f"Mail to {tool_call['args']['to']}?"

    approve = {"send_email": {"allowed_decisions": ["approve", "reject"], "description": describe},
               "lookup": {"allowed_decisions": ["approve"], "description": "Address lookup"}}
    graph, cfg = agent(approve, log), {"configurable": {"thread_id": "cfg"}}
    out = graph.invoke({"instruction": "mail bob"}, cfg)
    assert request_of(out).pop("digest").startswith("sha256:")  # what the answer binds to (approvals.binding)
    assert request_of(out) == {"action_requests": [{"name": "lookup", "args": {"name": "bob"},
                                                    "description": "Address lookup"}],
                               "review_configs": [{"action_name": "lookup", "allowed_decisions": ["approve"]}]}
    out = decide(graph, cfg, {"type": "approve"})
    assert request_of(out)["action_requests"][0]["description"] == "Mail to bob@example.org?"
    assert request_of(out)["review_configs"][0]["allowed_decisions"] == ["approve", "reject"]
    call, instruction, _ = seen[-1]
    assert call["name"] == "send_email" and call["args"] == {"to": "bob@example.org", "body": "hi"}
    assert instruction == "mail bob"
    # edit is not offered: the answer comes back with the error and nothing runs
    out = decide(graph, cfg, {"type": "edit", "edited_action": {"name": "send_email",
                                                                "args": {"to": "eve", "body": "x"}}})
    assert "must be one of approve, reject for send_email, got 'edit'" in request_of(out)["error"]
    assert log == [("lookup", "bob")]
    out = decide(graph, cfg, {"type": "approve"})
    assert out["answer"] == "sent to bob@example.org"
    assert log == [("lookup", "bob"), ("send_email", "bob@example.org", "hi")]


def test_respond_gives_the_result_without_running_the_tool() -> None:
    log: list[Any] = []
    graph, cfg = agent({"send_email"}, log), {"configurable": {"thread_id": "respond"}}
    graph.invoke({"instruction": "mail bob"}, cfg)
    out = decide(graph, cfg, {"type": "respond"})  # respond needs its message
    assert "needs a 'message'" in request_of(out)["error"]
    out = decide(graph, cfg, {"type": "respond", "message": "queued by the operator"})
    assert out["status"] == "success" and out["answer"] == "queued by the operator"
    assert log == [("lookup", "bob")]  # send_email never ran
    step = out["trajectory"][1]
    assert step["name"] == "send_email" and step["output"] == "queued by the operator" and step["responded"]


def test_an_edit_cannot_switch_tools_or_break_the_schema() -> None:
    log: list[Any] = []
    graph, cfg = agent({"send_email"}, log), {"configurable": {"thread_id": "edit"}}
    graph.invoke({"instruction": "mail bob"}, cfg)
    out = decide(graph, cfg, {"type": "edit", "edited_action": {"name": "lookup", "args": {"name": "eve"}}})
    assert "cannot change the action" in request_of(out)["error"]
    out = decide(graph, cfg, {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "eve"}}})
    assert "edited arguments rejected" in request_of(out)["error"] and "body" in request_of(out)["error"]
    out = decide(graph, cfg, {"type": "edit", "edited_action": {"name": "send_email",
                                                                "args": {"to": ["eve"], "body": "x"}}})
    assert "edited arguments rejected" in request_of(out)["error"]
    assert log == [("lookup", "bob")]  # nothing ran while the answers were bad
    assert request_of(out)["action_requests"][0]["args"] == {"to": "bob@example.org", "body": "hi"}
    out = decide(graph, cfg, {"type": "edit", "edited_action": {"name": "send_email",
                                                                "args": {"to": "eve", "body": "x"}}})
    assert out["answer"] == "sent to eve" and log[-1] == ("send_email", "eve", "x")


@pytest.mark.parametrize("value", ["expansion", "Expansions", "sometimes", "send_email,nope", {"nope": True},
                                   {"send_email": {"allowed_decisions": ["approve", "maybe"]}}, 7])
def test_a_bad_approve_in_the_run_context_is_a_run_error_before_anything_runs(value: Any) -> None:
    log: list[Any] = []
    model = ScriptedChatModel(responses=[expansion("", MAIL)])
    graph = create_recode_agent(model, tools=mail_tools(log), checkpointer=InMemorySaver())
    with pytest.raises(ValueError, match="invalid run context: approve"):
        graph.invoke({"instruction": "mail bob"}, {"configurable": {"thread_id": "ctx"}},
                     context=RecodeContext(approve=value))
    assert model.calls == [] and log == []


def test_the_run_context_adds_review_and_cannot_remove_the_agents_own() -> None:
    log: list[Any] = []
    graph = agent({"send_email"}, log)
    cfg = {"configurable": {"thread_id": "ctx-none"}}
    out = graph.invoke({"instruction": "mail bob"}, cfg, context={"approve": "none"})
    assert request_of(out)["action_requests"][0]["name"] == "send_email"  # still reviewed
    graph = agent(None, log)
    cfg = {"configurable": {"thread_id": "ctx-json"}}
    ctx = {"approve": '{"lookup": {"allowed_decisions": ["approve", "respond"]}}'}
    out = graph.invoke({"instruction": "mail bob"}, cfg, context=ctx)
    assert request_of(out)["review_configs"][0] == {"action_name": "lookup",
                                                    "allowed_decisions": ["approve", "respond"]}
    out = graph.invoke(Command(resume={"decisions": [{"type": "respond", "message": "ann@x"}]}), cfg, context=ctx)
    assert out["answer"] == "sent to ann@x"


def test_expansion_review_takes_its_interrupt_on_config() -> None:
    model = ScriptedChatModel(responses=[expansion("greet", "final_answer('hi')")])
    graph = create_recode_agent(model, checkpointer=InMemorySaver(), approve={
        "expansions": {"allowed_decisions": ["approve", "reject"], "description": "Check the plan"}})
    cfg = {"configurable": {"thread_id": "exp"}}
    out = graph.invoke({"instruction": "greet"}, cfg)
    assert request_of(out)["action_requests"][0]["description"] == "Check the plan"
    assert request_of(out)["review_configs"][0]["allowed_decisions"] == ["approve", "reject"]
    out = decide(graph, cfg, {"type": "edit", "edited_action": {"name": "expansion", "args": {"code": "x = 1"}}})
    assert "must be one of approve, reject" in request_of(out)["error"]
    assert decide(graph, cfg, {"type": "approve"})["answer"] == "hi"
