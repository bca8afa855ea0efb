"""Graphs for ``langgraph dev`` in tests/test_server_approval.py: two mail tools (send_email marked with
side_effects), a scripted model, review from the run context (``graph``) or set in code (``approving``).
Every real send is appended to $RECODE_TEST_SENT. ``mail_slow`` sends, then waits $RECODE_TEST_PAUSE seconds
(``pause``) before its answer, and ``send_email`` waits $RECODE_TEST_SEND_PAUSE seconds after sending, before its
result is recorded: windows in which a test kills the server process running it."""

from __future__ import annotations

import os
import time

from langchain_core.tools import tool
from recode_graph.tools.langchain_bridge import as_tools

from recode_graph import ScriptedChatModel, create_recode_agent, expansion, side_effects
from recode_graph.agent import build_graph, compile_agent
from recode_graph.context import Settings
from recode_graph.deps import AgentDeps


@tool
def lookup(name: str) -> str:
    """Look up someone's address."""
    return f"{name}@example.org"


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    with open(os.environ["RECODE_TEST_SENT"], "a") as fh:
        fh.write(f"{to}\t{body}\n")
    time.sleep(float(os.environ.get("RECODE_TEST_SEND_PAUSE", "0")))  # sent, result not yet recorded
    return f"sent to {to}"


model = ScriptedChatModel(by_call={
    "solve": expansion("", "addr = lookup('bob')\nreceipt = send_email(addr, 'hi')\nfinal_answer(receipt)"),
    "repair:send_email": expansion("", "final_answer('not sent')"),
})
deps = AgentDeps(model=model, tools=as_tools([lookup, side_effects(send_email)]), environment=None, examples=None,
                 settings=Settings())
graph = compile_agent(build_graph(deps), name="mail")
# approvals set in code, no checkpointer: the server supplies one (as with create_agent's HITL middleware)
approving = create_recode_agent(model, tools=[lookup, side_effects(send_email)], approve={"send_email": True},
                                name="mail_approving")
# the same, answered from Agent Chat UI's npm template, which renders langgraph's older HumanInterrupt schema
inbox = create_recode_agent(model, tools=[lookup, side_effects(send_email)], approve={"send_email": True},
                            approval_schema="agent-inbox", name="mail_inbox")


@tool
def pause() -> str:
    """Wait a moment."""
    time.sleep(float(os.environ.get("RECODE_TEST_PAUSE", "0")))
    return "waited"


slow_model = ScriptedChatModel(by_call={
    "solve": expansion("", "addr = lookup('bob')\nreceipt = send_email(addr, 'hi')\npause()\nfinal_answer(receipt)"),
})
slow = compile_agent(build_graph(AgentDeps(model=slow_model, tools=as_tools([lookup, side_effects(send_email), pause]),
                                           environment=None, examples=None, settings=Settings())), name="mail_slow")


# approvals bound to content (issue 31): probe() is reviewed while the file $RECODE_TEST_PROBE exists, so a test
# that removes it between pause and resume makes the re-run compute another recipient (tests/test_approval_binding)
@tool
def probe() -> str:
    """Probe."""
    return "real"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


shift_model = ScriptedChatModel(by_call={"solve": expansion("", (
    "if True:\n    x = probe()\n    if x == 'real':\n        add(1, 2)\n    r = send_email(x + '@corp.example', 'hi')\n"
    "final_answer(r)"))})
shifting = create_recode_agent(
    shift_model, tools=[probe, add, side_effects(send_email)], name="mail_shift",
    approve={"probe": {"allowed_decisions": ["respond"],
                       "when": lambda request: os.path.exists(os.environ.get("RECODE_TEST_PROBE", "/nonexistent"))},
             "send_email": True})
