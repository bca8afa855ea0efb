"""LangChain v1 middleware around expansions, primitive tool calls and the episode."""

from __future__ import annotations

import asyncio
from typing import Any, NotRequired

import pytest
from langchain.agents.middleware import (
    AgentMiddleware,
    AgentState,
    ModelCallLimitMiddleware,
    ModelFallbackMiddleware,
    ModelRequest,
    ModelResponse,
    ToolCallLimitMiddleware,
)
from langchain.agents.middleware.model_call_limit import ModelCallLimitExceededError
from langchain.agents.middleware.tool_call_limit import ToolCallLimitExceededError
from langchain_core.messages import AIMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.engine.episode import ep

THREE_LEVELS = {
    "solve": expansion("", "a = step_one(instruction)\nfinal_answer(a)"),
    "step_one": expansion("", "a = step_two(instruction)"),
    "step_two": expansion("", "a = instruction.upper()"),
}


def test_model_call_limit_ends_the_episode_with_its_message() -> None:
    model = ScriptedChatModel(by_call=THREE_LEVELS)
    agent = create_recode_agent(model, middleware=[ModelCallLimitMiddleware(run_limit=2, exit_behavior="end")])
    out = agent.invoke({"instruction": "hi"})
    assert len(model.calls) == 2 and out["status"] == "failed"
    assert "Model call limits exceeded" in out["reason"]
    assert out["messages"][-1].type == "ai" and "Model call limits exceeded" in out["messages"][-1].content
    with pytest.raises(ModelCallLimitExceededError):
        create_recode_agent(ScriptedChatModel(by_call=THREE_LEVELS),
                            middleware=[ModelCallLimitMiddleware(run_limit=1, exit_behavior="error")]
                            ).invoke({"instruction": "hi"})


def test_model_call_limit_counts_per_thread_across_episodes() -> None:
    model = ScriptedChatModel(by_call=THREE_LEVELS)
    agent = create_recode_agent(model, checkpointer=InMemorySaver(),
                                middleware=[ModelCallLimitMiddleware(thread_limit=4)])
    cfg = {"configurable": {"thread_id": "limits"}}
    assert agent.invoke({"instruction": "one"}, cfg)["answer"] == "ONE"
    assert agent.get_state(cfg).values["thread_model_call_count"] == 3
    out = agent.invoke({"instruction": "two"}, cfg)
    assert out["status"] == "failed" and "thread limit (4/4)" in out["reason"] and len(model.calls) == 4


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_model_fallback_answers_when_the_first_model_fails(mode: str) -> None:
    def broken(prompt: str) -> str:
        raise ConnectionError("provider down")

    fallback = ScriptedChatModel(responses=[expansion("", "final_answer('from fallback')")])
    agent = create_recode_agent(ScriptedChatModel(responder=broken),
                                middleware=[ModelFallbackMiddleware(fallback)])
    out = asyncio.run(agent.ainvoke({"instruction": "x"})) if mode == "ainvoke" else agent.invoke({"instruction": "x"})
    assert out["answer"] == "from fallback" and len(fallback.calls) == 1


def counting_tools(log: list[int]) -> list[Any]:
    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        log.append(a + b)
        return a + b

    return [add]


LOOP = "total = 0\nfor i in range(3):\n    total = add(total, i + 1)\nfinal_answer(str(total))"


def test_tool_call_limit_blocks_ends_or_raises_on_primitive_calls() -> None:
    log: list[int] = []
    agent = create_recode_agent(ScriptedChatModel(responses=[expansion("", LOOP)]), tools=counting_tools(log),
                                max_repairs=0,
                                middleware=[ToolCallLimitMiddleware(tool_name="add", run_limit=2)])
    out = agent.invoke({"instruction": "sum"})
    assert log == [1, 3] and out["status"] == "failed"
    assert "Tool call limit exceeded. Do not call 'add' again." in out["reason"]
    assert [s.get("status") for s in out["trajectory"]] == [None, None, "blocked"]

    log.clear()
    agent = create_recode_agent(ScriptedChatModel(responses=[expansion("", LOOP)]), tools=counting_tools(log),
                                middleware=[ToolCallLimitMiddleware(run_limit=2, exit_behavior="end")])
    out = agent.invoke({"instruction": "sum"})
    assert log == [1, 3] and out["status"] == "failed" and "limit" in out["messages"][-1].content

    log.clear()
    agent = create_recode_agent(ScriptedChatModel(responses=[expansion("", LOOP)]), tools=counting_tools(log),
                                middleware=[ToolCallLimitMiddleware(run_limit=1, exit_behavior="error")])
    with pytest.raises(ToolCallLimitExceededError):
        agent.invoke({"instruction": "sum"})
    assert log == [1]


class AuditState(AgentState):
    audit: NotRequired[list[str]]


class Audit(AgentMiddleware[AuditState]):
    """A user-written middleware using every hook the agent runs."""

    state_schema = AuditState

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.requests: list[ModelRequest] = []
        self.tool_calls: list[dict[str, Any]] = []

    def _note(self, state: Any, event: str) -> dict[str, Any]:
        self.events.append(event)
        return {"audit": [*(state.get("audit") or []), event]}

    def before_agent(self, state: Any, runtime: Any) -> dict[str, Any]:
        return self._note(state, "before_agent")

    def after_agent(self, state: Any, runtime: Any) -> dict[str, Any]:
        return self._note(state, f"after_agent:{state['status']}")

    def before_model(self, state: Any, runtime: Any) -> dict[str, Any]:
        return self._note(state, "before_model")

    def after_model(self, state: Any, runtime: Any) -> dict[str, Any]:
        assert isinstance(state["messages"][-1], AIMessage)  # the expansion answer is the last message
        return self._note(state, "after_model")

    def wrap_model_call(self, request: ModelRequest, handler: Any) -> ModelResponse:
        self.requests.append(request)
        system = SystemMessage(content=request.system_message.text + "\nAudited.")
        return handler(request.override(system_message=system))

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        self.tool_calls.append(dict(request.tool_call))
        doubled = {**request.tool_call, "args": {k: v * 2 for k, v in request.tool_call["args"].items()}}
        result = handler(request.override(tool_call=doubled))
        assert isinstance(result, ToolMessage) and result.tool_call_id == request.tool_call["id"]
        return result

    async def awrap_model_call(self, request: ModelRequest, handler: Any) -> ModelResponse:
        self.events.append("async_model")
        return await handler(request)

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        self.events.append("async_tool")
        return await handler(request)


def test_a_user_written_middleware_sees_every_expansion_tool_call_and_the_episode() -> None:
    log: list[int] = []
    model = ScriptedChatModel(by_call={"solve": expansion("", "s = add_up(2)\nfinal_answer(str(s))"),
                                       "add_up": expansion("", "s = add(1, 2)")})
    audit = Audit()
    out = create_recode_agent(model, tools=counting_tools(log), middleware=[audit]).invoke({"instruction": "x"})
    assert out["answer"] == "6" and log == [6]  # the tool saw the doubled arguments; the code got its value
    assert out["audit"] == ["before_agent", "before_model", "after_model", "before_model", "after_model",
                            "after_agent:success"]
    assert len(model.calls) == 2 and all("Audited." in c for c in model.calls)
    assert [r.state["tree"][ep(r.state, "pending")["node"]]["code"] for r in audit.requests] == [
        "solve(instruction, observation)", "s = add_up(2)"]
    (call,) = audit.tool_calls
    assert call["name"] == "add" and call["args"] == {"a": 1, "b": 2} and call["id"].startswith("call_")
    assert "audit" in create_recode_agent(model, middleware=[Audit()]).get_output_jsonschema()["properties"]


def test_async_runs_use_the_async_hooks() -> None:
    log: list[int] = []
    model = ScriptedChatModel(responses=[expansion("", "final_answer(str(add(1, 2)))")])
    audit = Audit()
    out = asyncio.run(create_recode_agent(model, tools=counting_tools(log), middleware=[audit]).ainvoke(
        {"instruction": "x"}))
    assert out["answer"] == "3" and log == [3]
    assert "async_model" in audit.events and "async_tool" in audit.events


def test_middleware_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="middleware"):
        create_recode_agent(ScriptedChatModel(responses=[]), middleware=[object()])
    with pytest.raises(ValueError, match="unique"):
        create_recode_agent(ScriptedChatModel(responses=[]), middleware=[Audit(), Audit()])


def test_middleware_that_jumps_elsewhere_is_a_clear_error() -> None:
    class Jumper(AgentMiddleware):
        def before_model(self, state: Any, runtime: Any) -> dict[str, Any]:
            return {"jump_to": "tools"}

    agent = create_recode_agent(ScriptedChatModel(responses=[expansion("", "final_answer('x')")]),
                                middleware=[Jumper()])
    with pytest.raises(ValueError, match="jump_to='end'"):
        agent.invoke({"instruction": "x"})



def test_stock_retry_middleware_retries_expansions_and_primitive_tool_calls() -> None:
    from langchain.agents.middleware import ModelRetryMiddleware, ToolRetryMiddleware

    attempts: list[str] = []

    @tool
    def flaky(x: int) -> int:
        """Fails the first time."""
        attempts.append("tool")
        if len([a for a in attempts if a == "tool"]) == 1:
            raise ConnectionError("try again")
        return x + 1

    def answer(prompt: str) -> str:
        attempts.append("model")
        if attempts.count("model") == 1:
            raise TimeoutError("slow provider")
        return expansion("", "final_answer(str(flaky(1)))")

    middleware = [ModelRetryMiddleware(max_retries=1, initial_delay=0, jitter=False),
                  ToolRetryMiddleware(max_retries=1, initial_delay=0, jitter=False)]
    out = create_recode_agent(ScriptedChatModel(responder=answer), tools=[flaky], middleware=middleware).invoke(
        {"instruction": "x"})
    assert out["answer"] == "2" and attempts == ["model", "model", "tool", "tool"]


def test_middleware_tools_become_primitives_and_their_commands_update_middleware_state() -> None:
    from langchain.agents.middleware import TodoListMiddleware

    code = ("r = write_todos([{'content': 'look it up', 'status': 'in_progress'}])\n"
            "final_answer(r)")
    model = ScriptedChatModel(responses=[expansion("", code)])
    out = create_recode_agent(model, middleware=[TodoListMiddleware()]).invoke({"instruction": "plan"})
    assert out["status"] == "success" and "Updated todo list" in out["answer"]
    assert out["todos"] == [{"content": "look it up", "status": "in_progress"}]
    assert "- write_todos(todos: array)" in model.calls[0] and "tool_call_id" not in model.calls[0]
