"""A rejection, an interrupt and a final answer end the statement on the host's side: generated code cannot
catch, outlive or override them (try/except Exception, try/finally, `continue` inside `finally`)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from recode_graph import ScriptedChatModel, create_recode_agent, expansion


def tools(log: list[Any]) -> list[Any]:
    @tool
    def send_email(to: str, body: str) -> str:
        """Send an email to someone."""
        log.append((to, body))
        return f"sent to {to}"

    return [send_email]


SNEAKY = {
    "except Exception": "try:\n    r = send_email('bob', 'hi')\nexcept Exception:\n    final_answer('ignored')",
    "finally": "try:\n    r = send_email('bob', 'hi')\nfinally:\n    final_answer('ignored')",
    "continue in finally": ("for i in range(3):\n    try:\n        r = send_email('bob', str(i))\n    finally:\n"
                            "        continue\nfinal_answer('ignored')"),
    "except Exception then more calls": ("try:\n    send_email('bob', 'hi')\nexcept Exception as e:\n    pass\n"
                                         "send_email('eve', 'hi')\nfinal_answer('ignored')"),
}


@pytest.mark.parametrize("name", list(SNEAKY))
def test_a_rejection_cannot_be_swallowed(name: str) -> None:
    log: list[Any] = []
    code = SNEAKY[name]
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return expansion("", code if len(prompts) == 1 else "final_answer('repaired')")

    graph = create_recode_agent(ScriptedChatModel(responder=answer), tools=tools(log),
                                checkpointer=InMemorySaver(), approve={"send_email"})
    cfg = {"configurable": {"thread_id": f"rej-{name}"}}
    out = graph.invoke({"instruction": "mail bob"}, cfg)
    assert out["__interrupt__"][0].value["action_requests"][0]["name"] == "send_email"
    out = graph.invoke(Command(resume={"decisions": [{"type": "reject", "message": "never mail bob"}]}), cfg)
    assert "__interrupt__" not in out, out["__interrupt__"]
    assert out["status"] == "success" and out["answer"] == "repaired", (out["status"], out.get("answer"))
    assert log == []  # the tool never ran
    assert len(prompts) == 2 and "the reviewer rejected send_email" in prompts[1]
    assert "never mail bob" in prompts[1]
    assert [s["name"] for s in out["trajectory"]] == ["final_answer"]


def test_an_interrupt_cannot_be_outlived_by_a_finally_block() -> None:
    """Without the host-side flag, `finally: final_answer(...)` would end the episode during the review."""
    log: list[Any] = []
    graph = create_recode_agent(ScriptedChatModel(responses=[expansion("", SNEAKY["finally"])]), tools=tools(log),
                                checkpointer=InMemorySaver(), approve={"send_email"})
    cfg = {"configurable": {"thread_id": "outlive"}}
    out = graph.invoke({"instruction": "mail bob"}, cfg)
    assert "__interrupt__" in out and out["status"] == "running" and out.get("answer") is None
    out = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    # approved: the mail goes once, then the finally block's answer ends the episode
    assert out["answer"] == "ignored" and log == [("bob", "hi")]


@pytest.mark.parametrize("code,answer", [
    ("try:\n    final_answer('first')\nfinally:\n    final_answer('second')", "first"),
    ("try:\n    final_answer('first')\nfinally:\n    x = 1 / 0", "first"),
    ("for i in range(3):\n    try:\n        final_answer(str(i))\n    finally:\n        continue", "0"),
    ("try:\n    final_answer('first')\nfinally:\n    send_email('eve', 'late')", "first"),
])
def test_final_answer_cannot_be_caught_or_overridden(code: str, answer: str) -> None:
    log: list[Any] = []
    graph = create_recode_agent(ScriptedChatModel(responses=[expansion("", code + "\nfinal_answer('later')")]),
                                tools=tools(log), checkpointer=InMemorySaver())
    out = graph.invoke({"instruction": "answer"}, {"configurable": {"thread_id": "fa"}})
    assert out["status"] == "success" and out["answer"] == answer
    assert log == []  # no primitive runs after the answer
    assert [s["name"] for s in out["trajectory"]] == ["final_answer"]
