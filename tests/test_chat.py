"""Chat-native: the episode's work in ``messages``, wrapped models, approvals without a checkpointer of
the agent's own, and a served graph that never picks a model silently."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from density import DENSITY_SCHEMA, Density, DensityDict
from langchain.agents.middleware import AgentMiddleware
from langchain.chat_models import init_chat_model
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import InjectedToolArg, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command
from pydantic import BaseModel
from typing_extensions import TypedDict

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.engine.history import is_step
from recode_graph.models.errors import ModelError


@tool
def search(query: str) -> str:
    """Look a fact up."""
    return {"population of Oslo": "717710", "area of Oslo in km2": "454"}.get(query, "unknown")


@tool(response_format="content_and_artifact")
def fetch(url: str) -> tuple[str, dict[str, Any]]:
    """Fetch a page: its text for the code, the raw response as an artifact."""
    return f"page {url}", {"status": 200, "url": url}


def oslo_model() -> ScriptedChatModel:
    return ScriptedChatModel(by_call={
        "solve": expansion("Look both up, then divide.",
                           "d = density('Oslo')\npage = fetch('https://example.org')\n"
                           "final_answer(f'{d:.0f} people per km2')"),
        "density": expansion("Two lookups.",
                             "d = float(search('population of Oslo')) / float(search('area of Oslo in km2'))")})


def test_the_work_is_in_messages_as_chat_uis_draw_an_agent() -> None:
    model = oslo_model()
    out = create_recode_agent(model, tools=[search, fetch]).invoke(
        {"messages": [HumanMessage("Population density of Oslo?")]})
    messages = out["messages"]
    assert [m.type for m in messages] == ["human", "ai", "ai", "ai", "tool", "ai", "tool", "ai", "tool", "ai"]
    solve, density = messages[1], messages[2]
    assert solve.content.startswith("Expanding `solve(instruction, observation)`: Look both up, then divide.")
    assert "```python\nd = density('Oslo')\npage = fetch('https://example.org')" in solve.content
    assert density.content.startswith("Expanding `d = density('Oslo')`: Two lookups.")
    calls = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert [(c.tool_calls[0]["name"], c.tool_calls[0]["args"]) for c in calls] == [
        ("search", {"query": "population of Oslo"}), ("search", {"query": "area of Oslo in km2"}),
        ("fetch", {"url": "https://example.org"})]
    results = [m for m in messages if isinstance(m, ToolMessage)]
    assert [r.tool_call_id for r in results] == [c.tool_calls[0]["id"] for c in calls]  # each answers its call
    assert [r.content for r in results] == ["717710", "454", "page https://example.org"]
    assert results[2].artifact == {"status": 200, "url": "https://example.org"}  # the artifact is kept
    assert len({m.id for m in messages}) == len(messages)
    answer = messages[-1]
    assert answer.content == "1581 people per km2" and not is_step(answer)
    usage = out["usage"]
    assert answer.usage_metadata == {"input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"],
                                     "total_tokens": usage["input_tokens"] + usage["output_tokens"]}
    assert usage["calls"] == 2 and usage["input_tokens"] > 0
    assert answer.response_metadata["model_name"] == "ScriptedChatModel"


def test_an_environment_episode_shows_each_action_and_observation() -> None:
    pytest.importorskip("alfworld")
    from recode_graph.tools import load_environment

    from recode_graph.models.scripted import load_fixture

    env = load_environment("alfworld", split="seen")
    try:
        out = create_recode_agent(load_fixture("alfworld_generic"), environment=env).invoke(
            {"task_id": "pick_and_place_simple-Book-None-SideTable-329/trial_T20190908_050633_745514"})
    finally:
        env.close()
    assert out["status"] == "success"
    runs = [m.tool_calls[0] for m in out["messages"] if isinstance(m, AIMessage) and m.tool_calls]
    observations = [m.content for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [c["args"]["action"] for c in runs] == [s["args"]["action"] for s in out["trajectory"]]
    assert observations == [s["output"] for s in out["trajectory"]] and {c["name"] for c in runs} == {"run"}


def test_follow_up_turns_see_answers_not_steps_and_answer_only_history_is_a_setting() -> None:
    prompts: list[str] = []

    def respond(prompt: str) -> str:
        prompts.append(prompt)
        return expansion("", "final_answer(search('population of Oslo'))")

    agent = create_recode_agent(ScriptedChatModel(responder=respond), tools=[search], checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "t"}}
    agent.invoke({"messages": [HumanMessage("How many people live in Oslo?")]}, cfg)
    out = agent.invoke({"messages": [HumanMessage("Again?")]}, cfg)
    assert "Assistant: 717710" in prompts[-1] and "Expanding" not in prompts[-1] and "search" in prompts[-1]
    assert sum(isinstance(m, ToolMessage) for m in out["messages"]) == 2  # one per turn
    quiet = create_recode_agent(ScriptedChatModel(responder=respond), tools=[search], chat_history="answer")
    assert [m.type for m in quiet.invoke({"instruction": "Oslo?"})["messages"]] == ["human", "ai"]
    with pytest.raises(ValueError, match="chat_history must be one of 'steps', 'answer', got 'all'"):
        create_recode_agent(ScriptedChatModel(responder=respond), chat_history="all")


@pytest.mark.parametrize("wrap", ["bind", "with_config", "with_retry", "with_fallbacks", "chained"])
def test_runnable_wrapped_models_work(wrap: str) -> None:
    model = ScriptedChatModel(responses=[expansion("", "final_answer(str(6 * 7))")])
    wrapped = {"bind": lambda: model.bind(temperature=0), "with_config": lambda: model.with_config(tags=["mine"]),
               "with_retry": lambda: model.with_retry(stop_after_attempt=2),
               "with_fallbacks": lambda: model.with_fallbacks([model]),
               "chained": lambda: model.bind(temperature=0).with_retry().with_config(tags=["x"])}[wrap]()
    out = create_recode_agent(wrapped).invoke({"instruction": "six times seven"})
    assert out["status"] == "success" and out["answer"] == "42"
    assert out["messages"][-1].response_metadata["model_name"] == "ScriptedChatModel"


def test_a_configurable_model_is_accepted_and_other_runnables_are_not() -> None:
    configurable = init_chat_model("openai:gpt-4o-mini", configurable_fields="any", api_key="not-used")
    assert create_recode_agent(configurable).name == "recode"  # built; the model is chosen per run
    model = ScriptedChatModel(responses=["x"])
    with pytest.raises(ValueError, match="model must be a chat model .* got RunnableSequence"):
        create_recode_agent(model | model)  # a chain is not a chat model
    with pytest.raises(ValueError, match="got int"):
        create_recode_agent(42)  # type: ignore[arg-type]


class Parent(TypedDict, total=False):
    instruction: str
    answer: str
    status: str


def test_build_time_approvals_take_the_parents_checkpointer() -> None:
    model = ScriptedChatModel(responses=[expansion("", "final_answer(search('population of Oslo'))")])
    agent = create_recode_agent(model, tools=[search], approve="actions")  # no checkpointer of its own
    builder = StateGraph(Parent)
    builder.add_node("recode", agent)
    builder.add_edge(START, "recode")
    builder.add_edge("recode", END)
    app = builder.compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "p"}}
    paused = app.invoke({"instruction": "people in Oslo?"}, cfg)
    request = paused["__interrupt__"][0].value
    assert request["action_requests"][0]["name"] == "search"
    out = app.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    assert out["status"] == "success" and out["answer"] == "717710"
    chat = StateGraph(MessagesState)  # the same agent as a node of a messages graph without a checkpointer
    chat.add_node("recode", agent)
    chat.add_edge(START, "recode")
    with pytest.raises(ValueError, match="needs a checkpointer"):
        chat.compile().invoke({"messages": [HumanMessage("people in Oslo?")]})


def test_the_served_graph_never_starts_a_model_nobody_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from recode_graph.graph import served_model

    monkeypatch.delenv("RECODE_MODEL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelError, match="no model for this run: set the run context's `model` field"):
        served_model("")
    assert isinstance(served_model("scripted:hello"), ScriptedChatModel)
    monkeypatch.setenv("RECODE_MODEL", "scripted:hello")
    assert isinstance(served_model(""), ScriptedChatModel)  # configured on the server: used


def test_middleware_supplied_injected_arguments_reach_the_tool_and_the_trajectory() -> None:
    seen: list[str] = []

    @tool
    def orders(limit: int, user_id: Annotated[str, InjectedToolArg]) -> str:
        """The user's latest orders."""
        seen.append(user_id)
        return f"{limit} orders of {user_id}"

    class WhoIsAsking(AgentMiddleware):
        def wrap_tool_call(self, request: Any, handler: Any) -> Any:
            call = request.tool_call
            return handler(request.override(tool_call={**call, "args": {**call["args"], "user_id": "u-7"}}))

    model = ScriptedChatModel(responses=[expansion("", "final_answer(orders(2))")])
    out = create_recode_agent(model, tools=[orders], middleware=[WhoIsAsking()]).invoke({"instruction": "orders?"})
    assert out["status"] == "success" and out["answer"] == "2 orders of u-7" and seen == ["u-7"]
    (step,) = [s for s in out["trajectory"] if s["name"] == "orders"]
    assert step["args"] == {"limit": 2, "user_id": "u-7"}  # what the tool got
    prompt = model.calls[0]
    assert "orders(limit" in prompt and "user_id" not in prompt  # still hidden from the model
    forged = ScriptedChatModel(responses=[expansion("", "final_answer(orders(2, user_id='admin'))"),
                                          expansion("", "final_answer('no')")] * 3)
    out = create_recode_agent(forged, tools=[orders]).invoke({"instruction": "orders?"})
    assert "admin" not in seen  # the code cannot pass it






@pytest.mark.parametrize("shape", [Density, DensityDict, DENSITY_SCHEMA, "tool-strategy"],
                         ids=["pydantic", "typeddict", "jsonschema", "tool-strategy"])
def test_response_format_validates_the_answer_and_a_wrong_shape_is_repaired(shape: Any) -> None:
    from langchain.agents.structured_output import ToolStrategy

    response_format = ToolStrategy(Density) if shape == "tool-strategy" else shape
    model = ScriptedChatModel(responses=[
        expansion("", "final_answer({'city': 'Oslo'})"),  # misses a field
        expansion("", "final_answer({'city': 'Oslo', 'people_per_km2': 1581})"),
    ])
    out = create_recode_agent(model, response_format=response_format).invoke({"instruction": "Oslo density?"})
    assert out["status"] == "success", out["reason"]
    value = out["structured_response"]  # the schema's type, as create_agent gives it (tests/test_parity.py)
    assert (value.model_dump() if isinstance(value, BaseModel) else value) == {"city": "Oslo", "people_per_km2": 1581}
    name = "DensityDict" if shape is DensityDict else "Density"
    assert '"people_per_km2"' in model.calls[0] and f"required shape ({name})" in model.calls[0]
    assert f"does not match {name}" in model.calls[1] and "people_per_km2" in model.calls[1]  # the repair sees why
    assert out["messages"][-1].content == '{"city": "Oslo", "people_per_km2": 1581}'


def test_response_format_takes_json_text_and_refuses_what_is_not_a_schema() -> None:
    model = ScriptedChatModel(responses=[expansion("", "final_answer('{\"city\": \"Oslo\", \"people_per_km2\": 7}')")])
    out = create_recode_agent(model, response_format=Density).invoke({"instruction": "x"})
    assert out["structured_response"] == Density(city="Oslo", people_per_km2=7)
    plain = create_recode_agent(ScriptedChatModel(responses=[expansion("", "final_answer('hi')")]))
    assert plain.invoke({"instruction": "x"})["structured_response"] is None  # no format: no structured value
    with pytest.raises(TypeError, match="response_format must be a pydantic model class, .* got str"):
        create_recode_agent(model, response_format="json")
    with pytest.raises(TypeError, match="not a valid JSON schema"):
        create_recode_agent(model, response_format={"type": "no-such-type"})


def mail_agent(**options: Any) -> tuple[Any, list[str]]:
    sent: list[str] = []

    @tool
    def send_email(to: str, body: str) -> str:
        """Send an e-mail."""
        sent.append(to)
        return f"sent to {to}"

    code = "a = send_email('ann@example.org', 'hi')\nb = send_email('eve@evil.test', 'hi')\nfinal_answer(a + '; ' + b)"
    model = ScriptedChatModel(responses=[expansion("", code)])
    return create_recode_agent(model, tools=[send_email], checkpointer=InMemorySaver(), **options), sent


def outside(request: Any) -> bool:
    return not request.tool_call["args"]["to"].endswith("@example.org")


def test_a_when_predicate_interrupts_only_the_calls_it_picks() -> None:
    agent, sent = mail_agent(approve={"send_email": {"allowed_decisions": ["approve", "reject"], "when": outside}})
    cfg = {"configurable": {"thread_id": "w"}}
    paused = agent.invoke({"instruction": "mail both"}, cfg)
    (pending,) = paused["__interrupt__"]
    assert pending.value["action_requests"][0]["args"]["to"] == "eve@evil.test"  # ann's mail needed no review
    assert sent == ["ann@example.org"]
    out = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    assert out["answer"] == "sent to ann@example.org; sent to eve@evil.test" and sent == [
        "ann@example.org", "eve@evil.test"]  # replay after the interrupt did not send ann's mail again


def test_langchains_hitl_middleware_is_taken_as_approve_and_its_unsupported_options_are_refused() -> None:
    from langchain.agents.middleware import HumanInTheLoopMiddleware

    hitl = HumanInTheLoopMiddleware(interrupt_on={"send_email": {"allowed_decisions": ["approve"], "when": outside}},
                                    description_prefix="Mail review")
    agent, sent = mail_agent(middleware=[hitl])
    cfg = {"configurable": {"thread_id": "m"}}
    request = agent.invoke({"instruction": "mail both"}, cfg)["__interrupt__"][0].value
    assert request["action_requests"][0]["description"].startswith("Mail review\n\nTool: send_email")
    assert request["review_configs"][0]["allowed_decisions"] == ["approve"] and sent == ["ann@example.org"]
    assert agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)["status"] == "success"
    with pytest.raises(ValueError, match="edit_notice=...\\) does not apply"):
        mail_agent(middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True}, edit_notice="edited!")])
    with pytest.raises(ValueError, match="unknown tool or mode 'send_mail'"):
        mail_agent(middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_mail": True})])  # a typo fails closed
    with pytest.raises(ValueError, match="'when' of 'send_email' must be a callable"):
        mail_agent(approve={"send_email": {"allowed_decisions": ["approve"], "when": "always"}})


def test_a_broken_when_predicate_stops_the_run_loudly() -> None:
    def broken(request: Any) -> bool:
        raise KeyError("oops")

    agent, sent = mail_agent(approve={"send_email": {"allowed_decisions": ["approve"], "when": broken}})
    with pytest.raises(Exception, match="'when' predicate of the approval of 'send_email' raised KeyError"):
        agent.invoke({"instruction": "mail"}, {"configurable": {"thread_id": "b"}})
    assert sent == []


def test_text_that_is_a_str_subclass_reaches_the_sandbox_as_plain_text() -> None:
    class Text(str):  # langchain-core's message .text is one; a worker must never have to unpickle it
        pass

    model = ScriptedChatModel(responses=[expansion("", "n = len(instruction)\nfinal_answer(f'{n} {observation}')")])
    out = create_recode_agent(model).invoke({"instruction": Text("hello"), "observation": Text("ok")})
    assert out["status"] == "success" and out["answer"] == "5 ok", out["reason"]
    chat = ScriptedChatModel(responses=[expansion("", "final_answer(instruction.upper())")])
    out = create_recode_agent(chat).invoke({"messages": [HumanMessage("hi there")]})
    assert out["answer"] == "HI THERE" and type(out["instruction"]) is str
