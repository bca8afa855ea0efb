"""Parity with langchain's ``create_agent``: the type of ``structured_response`` (side by side with create_agent
on a scripted model), and side-effect tools under the async savers (AsyncSqliteSaver, AsyncPostgresSaver)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from density import DENSITY_SCHEMA, Density, DensityData, DensityDict
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.types import Command
from typing_extensions import TypedDict

from recode_graph import ScriptedChatModel, create_recode_agent, expansion, side_effects
from recode_graph.persistence.checkpointers import async_sqlite_saver, sqlite_saver

ANSWER = {"city": "Oslo", "people_per_km2": 1581}







class ToolCallingFake(GenericFakeChatModel):
    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def create_agent_response(schema: Any) -> Any:
    """What langchain's create_agent gives in ``structured_response`` for ``schema`` (ToolStrategy)."""
    from langchain.agents import create_agent
    from langchain.agents.structured_output import ToolStrategy

    name = schema.get("title") if isinstance(schema, dict) else schema.__name__
    model = ToolCallingFake(messages=iter([AIMessage("", tool_calls=[{"name": name, "args": ANSWER, "id": "c1"}])]))
    out = create_agent(model, response_format=ToolStrategy(schema)).invoke({"messages": [HumanMessage("Oslo?")]})
    return out["structured_response"]


def recode(schema: Any, **options: Any) -> Any:
    model = ScriptedChatModel(responses=[expansion("", f"final_answer({ANSWER!r})")])
    return create_recode_agent(model, response_format=schema, **options)


@pytest.mark.parametrize("schema", [Density, DensityData, DensityDict, DENSITY_SCHEMA],
                         ids=["pydantic", "dataclass", "typeddict", "jsonschema"])
def test_structured_response_has_the_type_create_agent_gives(schema: Any) -> None:
    theirs = create_agent_response(schema)
    ours = recode(schema).invoke({"instruction": "Oslo density?"})["structured_response"]
    assert type(ours) is type(theirs) and ours == theirs
    assert asyncio.run(recode(schema).ainvoke({"instruction": "Oslo density?"}))["structured_response"] == theirs


def test_the_state_stream_and_nested_runs_keep_plain_json(tmp_path: Path) -> None:
    graph = recode(Density, checkpointer=sqlite_saver(tmp_path / "t.sqlite"))
    cfg = {"configurable": {"thread_id": "t"}}
    out = graph.invoke({"instruction": "Oslo density?"}, cfg)
    assert out["structured_response"].city == "Oslo"  # create_agent code: out["structured_response"].city
    assert graph.get_state(cfg).values["structured_response"] == ANSWER  # the checkpoint: plain JSON
    chunks = list(recode(Density).stream({"instruction": "x"}, stream_mode="values"))
    assert chunks[-1]["structured_response"] == ANSWER  # what a server sends
    assert recode(Density).with_config(tags=["copy"]).invoke({"instruction": "x"})["structured_response"] == \
        Density(**ANSWER)  # with_config keeps the response format
    v2 = recode(Density).invoke({"instruction": "x"}, version="v2")
    assert v2.value["structured_response"] == Density(**ANSWER)

    from langgraph.graph import START, StateGraph

    class Parent(TypedDict, total=False):
        instruction: str
        structured_response: Any

    parent = StateGraph(Parent)
    parent.add_node("agent", recode(Density))
    parent.add_edge(START, "agent")
    nested = parent.compile(checkpointer=sqlite_saver(tmp_path / "p.sqlite"))
    assert nested.invoke({"instruction": "x"}, cfg)["structured_response"] == ANSWER  # the parent checkpoints it


def mail_agent(sent: list[str], saver: Any) -> Any:
    @tool
    def send_email(to: str, idempotency_key: str) -> str:
        """Send an email."""
        sent.append(idempotency_key)
        return f"sent to {to}"

    @tool
    def check(text: str) -> str:
        """Check a text."""
        return text.upper()

    model = ScriptedChatModel(by_call={"solve": expansion("", "r = check(send_email('bob'))\nfinal_answer(r)")})
    return create_recode_agent(model, tools=[side_effects(send_email), check], checkpointer=saver, approve=["check"])


def rows_of(rows: list[Any]) -> list[tuple[str, str, str]]:
    """The side-effect call's row (besides it the table may hold other records, e.g. the approval ledger)."""
    return [tuple(r) for r in rows if r[1] == "send_email" and r[2] in ("intent", "done")]


async def send_once(saver: Any, sent: list[str]) -> dict[str, Any]:
    """The statement runs send_email, then stops for the approval of check; the resumed statement runs again,
    and send_email's result comes from the log in the saver's database, not from a second send."""
    graph = mail_agent(sent, saver)
    cfg = {"configurable": {"thread_id": "mail"}}
    first = await graph.ainvoke({"instruction": "mail bob"}, cfg)
    assert first["__interrupt__"][0].value["action_requests"][0]["name"] == "check" and len(sent) == 1
    return await graph.ainvoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)


def test_side_effect_tools_run_once_under_async_sqlite_saver(tmp_path: Path) -> None:
    sent: list[str] = []

    async def scenario() -> dict[str, Any]:
        async with async_sqlite_saver(tmp_path / "async.sqlite") as saver:
            return await send_once(saver, sent)

    out = asyncio.run(scenario())
    assert out["answer"] == "SENT TO BOB" and len(sent) == 1
    rows = sqlite3.connect(tmp_path / "async.sqlite").execute(
        "SELECT thread_id, tool, status FROM recode_side_effects").fetchall()
    assert rows_of(rows) == [("mail", "send_email", "done")]  # the same file as the checkpoints


def test_side_effect_tools_run_once_under_async_postgres_saver() -> None:
    import psycopg
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    from tests.conftest import own_database

    sent: list[str] = []
    with own_database("recode_parity") as url:
        async def scenario() -> dict[str, Any]:
            async with AsyncPostgresSaver.from_conn_string(url) as saver:
                await saver.setup()
                return await send_once(saver, sent)

        out = asyncio.run(scenario())
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT thread_id, tool, status FROM recode_side_effects").fetchall()
    assert out["answer"] == "SENT TO BOB" and len(sent) == 1
    assert rows_of(rows) == [("mail", "send_email", "done")]


def test_per_call_mode_asks_like_create_agent_with_a_response_schema() -> None:
    """HumanInTheLoopMiddleware(interrupt_mode="per_call"): the request is the middleware's ToolApprovalRequest
    and its response_schema accepts and refuses the same answers as create_agent's; one decision answers it."""
    import jsonschema
    from langchain.agents import create_agent
    from langchain.agents.middleware import HumanInTheLoopMiddleware
    from langgraph.checkpoint.memory import InMemorySaver

    if "interrupt_mode" not in HumanInTheLoopMiddleware.__init__.__code__.co_varnames:
        pytest.skip("this langchain has no per_call mode (it came after the floor, langchain 1.3.0)")
    sent: list[tuple[str, str]] = []

    @tool
    def send_email(to: str, body: str) -> str:
        """Send an e-mail."""
        sent.append((to, body))
        return f"sent to {to}"

    def hitl() -> Any:
        allowed = {"allowed_decisions": ["approve", "edit", "respond"]}
        return HumanInTheLoopMiddleware(interrupt_on={"send_email": allowed}, interrupt_mode="per_call")

    call = {"name": "send_email", "args": {"to": "bob", "body": "hi"}, "id": "c1"}
    theirs_model = ToolCallingFake(messages=iter([AIMessage("", tool_calls=[call]), AIMessage("done")]))
    theirs_agent = create_agent(theirs_model, tools=[send_email], checkpointer=InMemorySaver(), middleware=[hitl()])
    (theirs,) = theirs_agent.invoke({"messages": [HumanMessage("mail bob")]},
                                    {"configurable": {"thread_id": "t"}})["__interrupt__"]
    code = "a = send_email('bob', 'hi')\nb = send_email('eve', 'hi')\nfinal_answer(a + '; ' + b)"
    ours_agent = create_recode_agent(ScriptedChatModel(responses=[expansion("", code)]), tools=[send_email],
                                     checkpointer=InMemorySaver(), middleware=[hitl()])
    cfg = {"configurable": {"thread_id": "o"}}
    (ours,) = ours_agent.invoke({"instruction": "mail bob and eve"}, cfg)["__interrupt__"]
    assert set(ours.value) - {"digest"} == set(theirs.value) and ours.value["type"] == "tool_approval"
    assert {k: ours.value[k] for k in ("name", "args", "description")} == \
        {k: theirs.value[k] for k in ("name", "args", "description")} and ours.value["tool_call_id"]

    def accepts(schema: dict[str, Any], answer: Any) -> bool:
        try:
            jsonschema.validate(answer, schema)
            return True
        except jsonschema.ValidationError:
            return False

    answers = [{"type": "approve"}, {"type": "respond", "message": "ok"}, {"type": "respond"}, {"type": "reject"},
               {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "x", "body": "y"}}},
               {"type": "edit", "edited_action": {"name": "other", "args": {"to": "x", "body": "y"}}},
               {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "x"}}}]
    verdicts = [accepts(theirs.response_schema, a) for a in answers]
    assert verdicts == [True, True, False, False, True, False, False]
    assert [accepts(ours.response_schema, a) for a in answers] == verdicts

    refused = ours_agent.invoke(Command(resume={"type": "reject"}), cfg)["__interrupt__"][0]  # not allowed here
    assert "decision type must be one of approve, edit, respond" in refused.value["error"] and sent == []
    edited = {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "bob", "body": "hello"}}}
    second = ours_agent.invoke(Command(resume=edited), cfg)["__interrupt__"][0]
    assert second.value["args"] == {"to": "eve", "body": "hi"} and sent == [("bob", "hello")]
    out = ours_agent.invoke(Command(resume={"type": "respond", "message": "eve is away"}), cfg)
    assert out["answer"] == "sent to bob; eve is away" and sent == [("bob", "hello")]
