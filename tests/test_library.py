"""The agent as a LangChain/LangGraph library: messages in and out, schemas, the factory, its errors."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph

from recode_graph import ScriptedChatModel, create_recode_agent, expansion


def answer_model() -> ScriptedChatModel:
    """Answers 42; a follow-up turn adds one to the last number the assistant said."""

    def respond(prompt: str) -> str:
        if "Assistant:" in prompt:
            return expansion("previous answer plus one",
                             "last = re.findall(r'Assistant: (\\d+)', observation)[-1]\n"
                             "final_answer(str(int(last) + 1))")
        return expansion("", "final_answer(str(6 * 7))")

    return ScriptedChatModel(responder=respond)


def test_messages_in_and_out_and_a_follow_up_turn_sees_the_previous_answer() -> None:
    model = answer_model()
    agent = create_recode_agent(model, checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "chat"}}
    out = agent.invoke({"messages": [{"role": "user", "content": "What is six times seven?"}]}, cfg)
    assert out["status"] == "success" and out["answer"] == "42"
    assert [m.type for m in out["messages"]] == ["human", "ai", "ai"]  # the expansion, then the answer
    assert out["messages"][1].response_metadata["recode_kind"] == "expansion"
    assert isinstance(out["messages"][-1], AIMessage) and out["messages"][-1].content == "42"
    assert "instruction = 'What is six times seven?'" in model.calls[0]
    out = agent.invoke({"messages": [HumanMessage("And plus one?")]}, cfg)
    turns = [m.content for m in out["messages"] if not m.response_metadata.get("recode_kind")]
    assert out["answer"] == "43" and turns == ["What is six times seven?", "42", "And plus one?", "43"]
    assert "User: What is six times seven?" in model.calls[-1] and "Assistant: 42" in model.calls[-1]
    assert out["instruction"] == "And plus one?" and len(out["tree"]) == 3


def test_instruction_input_also_gives_messages_and_a_failure_is_the_last_message() -> None:
    out = create_recode_agent(answer_model(), chat_history="answer").invoke({"instruction": "six times seven"})
    assert [(m.type, m.content) for m in out["messages"]] == [("human", "six times seven"), ("ai", "42")]
    broken = ScriptedChatModel(responses=[expansion("", "final_answer(1 / 0)")] * 3)
    out = create_recode_agent(broken, max_repairs=0).invoke({"messages": [HumanMessage("divide")]})
    assert out["status"] == "failed" and out["messages"][-1].type == "ai"
    assert "could not complete" in out["messages"][-1].content and "ZeroDivisionError" in out["messages"][-1].content


def test_input_and_output_schemas_show_only_public_fields() -> None:
    agent = create_recode_agent(answer_model())
    inputs = set(agent.get_input_jsonschema()["properties"])
    outputs = set(agent.get_output_jsonschema()["properties"])
    assert inputs == {"messages", "instruction", "observation", "task_id"}
    assert {"messages", "answer", "status", "reason", "tree", "trajectory", "usage"} <= outputs
    assert not outputs & {"session", "cursor", "pending", "proposal", "next_id"}
    out = agent.invoke({"instruction": "x"})
    assert "session" not in out and "cursor" not in out and out["answer"] == "42"


def test_as_tool_and_as_a_node_of_a_messages_graph() -> None:
    agent = create_recode_agent(answer_model(), name="calculator")
    as_tool = agent.as_tool()
    assert as_tool.name == "calculator" and set(as_tool.args) == {"instruction", "observation"}
    assert as_tool.invoke({"instruction": "six times seven"}) == "42"
    builder = StateGraph(MessagesState)
    builder.add_node("recode", agent)
    builder.add_edge(START, "recode")
    builder.add_edge("recode", END)
    app = builder.compile()
    out = app.invoke({"messages": [HumanMessage("six times seven")]})
    assert [m.content for m in out["messages"]][::2] == ["six times seven", "42"]  # with the expansion between


def test_user_state_keys_pass_through_input_and_output() -> None:
    from typing_extensions import TypedDict

    class Extra(TypedDict, total=False):
        ticket: str

    agent = create_recode_agent(answer_model(), state_schema=Extra)
    assert "ticket" in agent.get_input_jsonschema()["properties"]
    assert agent.invoke({"instruction": "x", "ticket": "T-1"})["ticket"] == "T-1"


def test_system_prompt_goes_into_every_expansion_prompt() -> None:
    model = ScriptedChatModel(by_call={"solve": expansion("", "x = helper(instruction)\nfinal_answer(x)"),
                                       "helper": expansion("", "x = instruction.upper()")})
    out = create_recode_agent(model, system_prompt="Always answer in capitals.").invoke({"instruction": "hi"})
    assert out["answer"] == "HI" and len(model.calls) == 2
    assert all("Guidance:\nAlways answer in capitals." in call for call in model.calls)


def test_factory_options_like_create_agent() -> None:
    from langgraph.cache.memory import InMemoryCache

    with pytest.raises(TypeError):
        create_recode_agent(answer_model(), [], None)  # type: ignore[misc]  # options are keyword-only
    cache = InMemoryCache()
    agent = create_recode_agent(answer_model(), tools=None, checkpointer=InMemorySaver(), debug=True,
                                cache=cache, interrupt_before=["execute"])
    assert agent.cache is cache and agent.debug is True
    cfg = {"configurable": {"thread_id": "ib"}}
    agent.invoke({"instruction": "x"}, cfg)
    assert agent.get_state(cfg).next == ("execute",)
    assert agent.invoke(None, cfg)["answer"] == "42"
    after = create_recode_agent(answer_model(), checkpointer=InMemorySaver(), interrupt_after=["expand"])
    after.invoke({"instruction": "x"}, cfg)
    assert after.get_state(cfg).next == ("execute",)


def test_errors_like_create_agent() -> None:
    agent = create_recode_agent(answer_model(), checkpointer=InMemorySaver())
    with pytest.raises(ValueError, match="thread_id"):
        agent.invoke({"instruction": "x"})
    unpausable = create_recode_agent(answer_model(), approve="actions")  # builds: a parent may bring one
    with pytest.raises(ValueError, match="approve= pauses runs for a human decision, which needs a checkpointer"):
        unpausable.invoke({"instruction": "x"})  # ... but a run with none anywhere cannot pause
    with pytest.raises(ValueError, match="checkpointer=False"):
        create_recode_agent(answer_model(), approve="actions", checkpointer=False)
    with pytest.raises(TypeError, match="tools"):
        create_recode_agent(answer_model(), tools=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tools"):
        create_recode_agent(answer_model(), tools=[42])  # type: ignore[list-item]

    @tool
    def shout(text: str) -> str:
        """Upper-case a text."""
        return text.upper()

    with pytest.raises(TypeError, match="tools"):
        create_recode_agent(answer_model(), tools=shout)  # type: ignore[arg-type]
    assert create_recode_agent(answer_model(), tools=None).invoke({"instruction": "x"})["answer"] == "42"


def test_async_invoke_speaks_messages_too() -> None:
    import asyncio

    async def run() -> Any:
        return await create_recode_agent(answer_model()).ainvoke({"messages": [HumanMessage("x")]})

    out = asyncio.run(run())
    assert out["messages"][-1].content == "42"


def test_the_agent_as_a_tool_of_a_create_agent_agent() -> None:
    from langchain.agents import create_agent
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    class ToolCallingFake(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

    call = {"name": "calculator", "args": {"instruction": "six times seven"}, "id": "c1", "type": "tool_call"}
    outer = ToolCallingFake(messages=iter([AIMessage(content="", tool_calls=[call]), AIMessage(content="It is 42.")]))
    recode_tool = create_recode_agent(answer_model(), name="calculator").as_tool()
    supervisor = create_agent(outer, tools=[recode_tool])
    out = supervisor.invoke({"messages": [HumanMessage("six times seven?")]})
    tool_message = next(m for m in out["messages"] if m.type == "tool")
    assert tool_message.content == "42" and out["messages"][-1].content == "It is 42."
