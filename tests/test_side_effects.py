"""Tools marked with side_effects() run at most once: intent and result in a durable log, an uncertain call
(intent, no result) interrupts for approve (run again) / respond (its result) / reject (fail the run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from recode_graph import ScriptedChatModel, create_recode_agent, expansion, side_effects
from recode_graph.persistence.checkpointers import sqlite_saver


class Crash(BaseException):
    """Stands in for the process dying inside the tool (after its effect, before it returns)."""


def mailer(log: list[Any], crash_on: set[int] | None = None) -> Any:
    @tool
    def send_email(to: str, body: str, idempotency_key: str) -> str:
        """Send an email to someone."""
        log.append((to, body, idempotency_key))
        if crash_on and len(log) in crash_on:
            raise Crash()
        return f"sent to {to}"

    return side_effects(send_email)


@tool
def check(text: str) -> str:
    """Check a text."""
    return text.upper()


CODE = "r = send_email('bob', 'hi')\nr2 = check(r)\nfinal_answer(r2)"


def agent(log: list[Any], saver: Any, crash_on: set[int] | None = None, approve: Any = None,
          code: str = CODE) -> tuple[Any, ScriptedChatModel]:
    model = ScriptedChatModel(by_call={"solve": expansion("", code),
                                       "repair:send_email": expansion("", "final_answer('gave up')")})
    return create_recode_agent(model, tools=[mailer(log, crash_on), check], checkpointer=saver,
                               approve=approve), model


def test_marked_call_runs_once_across_interrupts_and_gets_a_stable_hidden_key() -> None:
    log: list[Any] = []
    graph, model = agent(log, InMemorySaver(), approve={"check"})
    cfg = {"configurable": {"thread_id": "once"}}
    out = graph.invoke({"instruction": "mail bob"}, cfg)
    assert out["__interrupt__"][0].value["action_requests"][0]["name"] == "check" and len(log) == 1
    out = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    assert out["answer"] == "SENT TO BOB" and len(log) == 1  # the statement ran twice, the mail went once
    key = log[0][2]
    assert key.startswith("once/") and out["trajectory"][0]["idempotency_key"] == key
    assert out["trajectory"][0]["args"] == {"to": "bob", "body": "hi"}
    assert "send_email(to: string, body: string)" in model.calls[0]  # the key is not the model's to pass


def test_the_model_cannot_pass_the_key_itself() -> None:
    log: list[Any] = []
    graph, _ = agent(log, InMemorySaver(), code="r = send_email('bob', 'hi', idempotency_key='x')\nfinal_answer(r)")
    out = graph.invoke({"instruction": "mail"}, {"configurable": {"thread_id": "k"}})
    assert out["answer"] == "gave up" and log == []
    assert "unexpected argument 'idempotency_key'" in out["tree"]["1"]["error"]


def crashed(tmp_path: Path, crash_on: set[int]) -> tuple[Any, dict[str, Any], list[Any]]:
    """A thread whose send_email call ran and then 'died' before returning (intent stored, no result)."""
    log: list[Any] = []
    saver = sqlite_saver(tmp_path / "t.sqlite")
    graph, _ = agent(log, saver, crash_on)
    cfg = {"configurable": {"thread_id": f"crash-{tmp_path.name}"}}
    with pytest.raises(Crash):
        graph.invoke({"instruction": "mail bob"}, cfg)
    assert len(log) == 1
    return graph, cfg, log


def test_uncertain_call_asks_and_approve_runs_it_again(tmp_path: Path) -> None:
    graph, cfg, log = crashed(tmp_path, {1})
    out = graph.invoke(None, cfg)
    request = out["__interrupt__"][0].value
    assert request["review_configs"][0]["allowed_decisions"] == ["approve", "respond", "reject"]
    assert "may already have run" in request["action_requests"][0]["description"] and len(log) == 1
    out = graph.invoke(Command(resume={"decisions": [{"type": "edit", "edited_action": {}}]}), cfg)
    assert "must be one of approve, respond, reject" in out["__interrupt__"][0].value["error"]
    out = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    assert out["answer"] == "SENT TO BOB" and len(log) == 2 and log[0][2] == log[1][2]  # same key both times


def test_uncertain_call_respond_uses_the_given_result(tmp_path: Path) -> None:
    graph, cfg, log = crashed(tmp_path, {1})
    graph.invoke(None, cfg)
    out = graph.invoke(Command(resume={"decisions": [{"type": "respond", "message": "sent earlier"}]}), cfg)
    assert out["answer"] == "SENT EARLIER" and len(log) == 1


def test_uncertain_call_reject_fails_the_run(tmp_path: Path) -> None:
    graph, cfg, log = crashed(tmp_path, {1})
    graph.invoke(None, cfg)
    out = graph.invoke(Command(resume={"decisions": [{"type": "reject", "message": "check the outbox"}]}), cfg)
    assert out["status"] == "failed" and "check the outbox" in out["reason"] and len(log) == 1


def test_a_second_crash_during_the_approved_rerun_asks_again(tmp_path: Path) -> None:
    graph, cfg, log = crashed(tmp_path, {1, 2})
    graph.invoke(None, cfg)
    with pytest.raises(Crash):
        graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    out = graph.invoke(None, cfg)  # the earlier "run again" does not cover this second attempt
    assert "may already have run" in out["__interrupt__"][0].value["action_requests"][0]["description"]
    out = graph.invoke(Command(resume={"decisions": [{"type": "respond", "message": "ok"}]}), cfg)
    assert out["answer"] == "OK" and len(log) == 2


def test_side_effects_marks_functions_and_tools() -> None:
    def notify(who: str) -> str:
        """Notify someone."""
        return who

    marked = side_effects(notify)
    assert marked.name == "notify" and marked.metadata["recode_side_effects"] is True
    with pytest.raises(ValueError):
        side_effects(42)  # type: ignore[arg-type]


def test_an_approved_call_that_crashed_keeps_its_approval_and_asks_about_the_uncertain_result(
        tmp_path: Path) -> None:
    log: list[Any] = []
    graph, _ = agent(log, sqlite_saver(tmp_path / "a.sqlite"), {1}, approve={"send_email"})
    cfg = {"configurable": {"thread_id": "approved-crash"}}
    out = graph.invoke({"instruction": "mail bob"}, cfg)
    assert out["__interrupt__"][0].value["action_requests"][0]["name"] == "send_email" and log == []
    with pytest.raises(Crash):
        graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    out = graph.invoke(None, cfg)  # the approval stands; the uncertain result is asked about
    request = out["__interrupt__"][0].value
    assert "may already have run" in request["action_requests"][0]["description"] and len(log) == 1
    out = graph.invoke(Command(resume={"decisions": [{"type": "respond", "message": "done"}]}), cfg)
    assert out["answer"] == "DONE" and len(log) == 1


def test_where_the_log_lives() -> None:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.store.memory import InMemoryStore

    from recode_graph.approvals.effects import EffectLogs, StoreLog

    logs = EffectLogs()
    first, second = InMemorySaver(), InMemorySaver()
    second.storage = first.storage  # `langgraph dev` gives each run a new saver over the same storage
    assert logs.for_run(first, None) is logs.for_run(second, None)
    assert logs.for_run(InMemorySaver(), None) is not logs.for_run(first, None)

    class OtherSaver(BaseCheckpointSaver):  # type: ignore[type-arg]
        pass

    with pytest.raises(RuntimeError, match="needs a durable log"):
        logs.for_run(OtherSaver(), None)  # no silent loss of the guarantee
    log = logs.for_run(OtherSaver(), InMemoryStore())
    assert isinstance(log, StoreLog)
    log.begin("t", "k", "send_email", {"to": "bob"})
    assert log.get("t", "k").status == "intent"
    log.finish("t", "k", {"output": "sent"})
    assert log.get("t", "k").result == {"output": "sent"} and log.get("t", "other") is None


def test_a_saver_without_a_durable_log_is_a_run_error_not_a_silent_second_send(tmp_path: Path) -> None:
    import asyncio

    from langgraph.checkpoint.base import BaseCheckpointSaver

    class OtherSaver(BaseCheckpointSaver):  # type: ignore[type-arg]
        """A saver of a kind the log does not know (the async SQLite/Postgres savers are: tests/test_parity.py)."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = InMemorySaver()

        async def aget_tuple(self, config: Any) -> Any:
            return await self.inner.aget_tuple(config)

        async def aput(self, *args: Any, **kwargs: Any) -> Any:
            return await self.inner.aput(*args, **kwargs)

        async def aput_writes(self, *args: Any, **kwargs: Any) -> Any:
            return await self.inner.aput_writes(*args, **kwargs)

        def alist(self, *args: Any, **kwargs: Any) -> Any:
            return self.inner.alist(*args, **kwargs)

        def get_next_version(self, current: Any, channel: Any) -> Any:
            return self.inner.get_next_version(current, channel)

    log: list[Any] = []

    async def scenario() -> None:
        graph, _ = agent(log, OtherSaver())
        with pytest.raises(RuntimeError, match="needs a durable log"):
            await graph.ainvoke({"instruction": "mail"}, {"configurable": {"thread_id": "a"}})

    asyncio.run(scenario())
    assert log == []
