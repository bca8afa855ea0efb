"""Every kind of LangChain tool, called from generated code, gets what LangGraph's ToolNode would give it."""

from __future__ import annotations

import asyncio
import operator
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import InjectedToolArg, InjectedToolCallId, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.prebuilt import InjectedState, InjectedStore, ToolRuntime
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command
from typing_extensions import TypedDict

from recode_graph import ScriptedChatModel, create_recode_agent, expansion


def run_code(code: str, tools: list[Any], mode: str = "invoke", **options: Any) -> tuple[dict[str, Any], Any]:
    model = ScriptedChatModel(responses=[expansion("", code)])
    agent = create_recode_agent(model, tools=tools, max_repairs=0, **options)
    config = options.pop("config", None) if "config" in options else None
    if mode == "ainvoke":
        out = asyncio.run(agent.ainvoke({"instruction": "go"}, config))
    else:
        out = agent.invoke({"instruction": "go"}, config)
    return out, model


@tool
async def fetch(url: str) -> str:
    """Fetch a page (async only)."""
    await asyncio.sleep(0)
    return f"<page {url}>"


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_async_only_tools_run_under_invoke_and_ainvoke(mode: str) -> None:
    out, _ = run_code("final_answer(fetch('a') + fetch(url='b'))", [fetch], mode)
    assert out["status"] == "success" and out["answer"] == "<page a><page b>"


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_content_and_artifact_gives_the_content_and_keeps_the_artifact(mode: str) -> None:
    @tool(response_format="content_and_artifact")
    def search(query: str) -> tuple[str, dict[str, Any]]:
        """Search documents."""
        return f"2 hits for {query}", {"ids": [3, 7], "query": query}

    out, _ = run_code("final_answer(search('oslo'))", [search], mode)
    assert out["answer"] == "2 hits for oslo"
    step = out["trajectory"][0]
    assert step["output"] == "2 hits for oslo" and step["artifact"] == {"ids": [3, 7], "query": "oslo"}


def test_injected_arguments_are_hidden_from_the_prompt_and_cannot_be_forged() -> None:
    @tool
    def scaled(x: int, factor: Annotated[int, InjectedToolArg] = 10) -> int:
        """Scale a number."""
        return x * factor

    @tool
    def peek(key: str, state: Annotated[dict, InjectedState]) -> str:
        """Read the agent's state."""
        return str(state["variables"].get(key, state.get(key)))

    @tool
    def task_text(prefix: str, instruction: Annotated[str, InjectedState("instruction")]) -> str:
        """The task, prefixed."""
        return prefix + instruction

    out, model = run_code("final_answer(f\"{scaled(3)} {peek('instruction')} {task_text('>')}\")",
                          [scaled, peek, task_text])
    assert out["answer"] == "30 go >go"
    system = model.calls[0]
    assert "- scaled(x: integer)" in system and "- peek(key: string)" in system
    assert "- task_text(prefix: string)" in system and "factor" not in system
    out, _ = run_code("final_answer(scaled(3, 5))", [scaled])
    assert out["status"] == "failed" and "takes 1 argument" in out["reason"]
    out, _ = run_code("final_answer(scaled(3, factor=5))", [scaled])
    assert out["status"] == "failed" and "unexpected argument 'factor'" in out["reason"]


@dataclass
class UserContext:
    user: str = "nobody"


def test_tool_runtime_gives_state_context_store_config_stream_writer_and_call_id() -> None:
    seen: dict[str, Any] = {}

    @tool
    def whoami(greeting: str, runtime: ToolRuntime) -> str:
        """Greet the current user."""
        seen["state_instruction"] = runtime.state["instruction"]
        seen["node"] = runtime.config["metadata"]["recode_node"]
        seen["call_id"] = runtime.tool_call_id
        runtime.store.put(("users",), runtime.context.user, {"greeted": True})
        runtime.stream_writer({"event": "tool_progress", "user": runtime.context.user})
        return f"{greeting}, {runtime.context.user}"

    store = InMemoryStore()
    agent = create_recode_agent(ScriptedChatModel(responses=[expansion("", "final_answer(whoami('hello'))")]),
                                tools=[whoami], context_schema=UserContext, store=store)
    events = [e for e in agent.stream({"instruction": "greet"}, context=UserContext(user="ada"),
                                      stream_mode="custom")]
    assert {"event": "tool_progress", "user": "ada"} in events
    final = [e for e in events if e.get("event") == "finished"]
    assert final and final[0]["status"] == "success"
    assert seen["state_instruction"] == "greet" and seen["node"] == "1" and seen["call_id"].startswith("call_")
    assert store.get(("users",), "ada").value == {"greeted": True}


def test_injected_store_and_a_missing_store_is_a_clear_error() -> None:
    @tool
    def remember(key: str, value: str, store: Annotated[Any, InjectedStore()]) -> str:
        """Remember a value."""
        store.put(("memory",), key, {"value": value})
        return "ok"

    store = InMemoryStore()
    out, _ = run_code("final_answer(remember('city', 'Oslo'))", [remember], store=store)
    assert out["answer"] == "ok" and store.get(("memory",), "city").value == {"value": "Oslo"}
    out, _ = run_code("final_answer(remember('city', 'Oslo'))", [remember])
    assert out["status"] == "failed" and "needs a store" in out["reason"]


def test_injected_tool_call_id_and_tool_message_returns_with_stable_ids_across_a_resume() -> None:
    ran: list[str] = []

    @tool
    def stamp(text: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> ToolMessage:
        """Stamp a text."""
        ran.append(tool_call_id)
        return ToolMessage(f"{text}@{tool_call_id}", tool_call_id=tool_call_id)

    @tool
    def send(text: str) -> str:
        """Send a text (needs approval)."""
        return "sent " + text

    code = "a = stamp('x')\nsend(a)\nb = stamp('y')\nfinal_answer(a + ' ' + b)"
    agent = create_recode_agent(ScriptedChatModel(responses=[expansion("", code)]), tools=[stamp, send],
                                approve={"send"}, checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "ids"}}
    paused = agent.invoke({"instruction": "go"}, cfg)
    assert "__interrupt__" in paused and len(ran) == 1
    out = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    a, b = out["answer"].split(" ")
    assert a == f"x@{ran[0]}" and b == f"y@{ran[1]}" and ran[0] != ran[1] and len(ran) == 2
    assert [s["output"] for s in out["trajectory"] if s["name"] == "stamp"] == [a, b]


class Ticketed(TypedDict, total=False):
    ticket: str
    notes: Annotated[list[str], operator.add]


def test_command_updates_user_state_keys_and_a_bad_key_names_the_tool() -> None:
    @tool
    def open_ticket(title: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
        """Open a ticket."""
        return Command(update={"ticket": f"T-{len(title)}", "notes": [f"opened {title}"],
                               "messages": [ToolMessage("ticket opened", tool_call_id=tool_call_id)]})

    @tool
    def read_ticket(ticket: Annotated[str, InjectedState("ticket")]) -> str:
        """The open ticket."""
        return ticket

    out, _ = run_code("r = open_ticket('disk full')\nfinal_answer(r + ' ' + read_ticket())",
                      [open_ticket, read_ticket], state_schema=Ticketed)
    assert out["answer"] == "ticket opened T-9" and out["ticket"] == "T-9" and out["notes"] == ["opened disk full"]
    assert [m.type for m in out["messages"]] == ["human", "ai", "ai", "tool", "ai", "tool", "ai"]
    assert [m.content for m in out["messages"] if m.type == "tool"] == ["ticket opened", "T-9"]

    @tool
    def hijack(x: str) -> Command:
        """Try to move the agent's cursor."""
        return Command(update={"cursor": None})

    with pytest.raises(ValueError, match="tool 'hijack' returned Command.*'cursor'"):
        run_code("hijack('x')\nfinal_answer('no')", [hijack])
