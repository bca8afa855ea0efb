"""What a chat UI sees while an agent works: recode-graph beside langchain's ``create_agent``.

    python -m recode_graph.bench.stream_parity [--latency 0.3] [--tool-seconds 0.2]

Both agents answer one question with three calls of the same tool, each model call taking ``--latency``
seconds and each tool call ``--tool-seconds`` (scripted models: ``create_agent``'s asks for one tool call per
model call, recode-graph's writes the three calls in one expansion). Streamed with ``stream_mode="values"``
(what Agent Chat UI and Studio use) on a SQLite checkpointer, per agent: the number of ``values`` snapshots,
the time until the first step (an AI or tool message) is in a snapshot, the time to the answer, the messages
in the final state, and the bytes the checkpointer stored per step. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.sqlite import SqliteSaver

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.bench.overhead import sqlite_bytes

CITIES = ("Oslo", "Bergen", "Tromso")
QUESTION = "What is the population of Oslo, Bergen and Tromso together?"


def population_tool(seconds: float) -> BaseTool:
    @tool
    def population(city: str) -> int:
        """The population of a Norwegian city."""
        time.sleep(seconds)
        return {"Oslo": 717710, "Bergen": 291940, "Tromso": 78745}.get(city, 0)

    return population


class ToolCallingScript(GenericFakeChatModel):
    """A scripted tool-calling model for ``create_agent``: the next message of a fixed list, after ``latency``."""

    latency: float = 0.0

    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingScript:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> Any:
        time.sleep(self.latency)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def create_agent_script(latency: float) -> ToolCallingScript:
    calls = [AIMessage(content="", tool_calls=[{"name": "population", "args": {"city": c}, "id": f"call_{i}"}])
             for i, c in enumerate(CITIES)]
    total = sum((717710, 291940, 78745))
    return ToolCallingScript(messages=iter([*calls, AIMessage(content=str(total))]), latency=latency)


def recode_script(latency: float) -> ScriptedChatModel:
    code = "\n".join(f"p{i} = population('{c}')" for i, c in enumerate(CITIES)) + "\nfinal_answer(str(p0 + p1 + p2))"
    return ScriptedChatModel(responses=[expansion("Look up each city, then add.", code)], latency=latency)


def measure(build: Callable[[Any], Any], path: Path) -> dict[str, Any]:
    """Stream one run with ``stream_mode="values"``; what a chat UI would have seen, and when."""
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        agent = build(SqliteSaver(conn))
        config = {"configurable": {"thread_id": "parity"}}
        start = time.perf_counter()
        first_step = None
        snapshots: list[dict[str, Any]] = []
        stream: Iterator[dict[str, Any]] = agent.stream({"messages": [HumanMessage(QUESTION)]}, config,
                                                         stream_mode="values")
        for values in stream:
            snapshots.append(values)
            if first_step is None and any(m.type in ("ai", "tool") for m in values.get("messages") or []):
                first_step = time.perf_counter() - start
        total = time.perf_counter() - start
        steps = len(list(agent.get_state_history(config)))
    finally:
        conn.close()
    final = snapshots[-1]["messages"]
    size = sqlite_bytes(path)
    return {"snapshots": len(snapshots), "first_step": first_step or total, "answer": total,
            "messages": len(final), "answer_text": str(final[-1].content), "steps": steps, "bytes": size,
            "per_step": size / max(1, steps)}


def run(latency: float, tool_seconds: float) -> dict[str, dict[str, Any]]:
    from langchain.agents import create_agent

    with tempfile.TemporaryDirectory() as tmp:
        return {
            "create_agent": measure(lambda saver: create_agent(create_agent_script(latency),
                                                               tools=[population_tool(tool_seconds)],
                                                               checkpointer=saver), Path(tmp) / "a.sqlite"),
            "recode-graph": measure(lambda saver: create_recode_agent(recode_script(latency),
                                                                      tools=[population_tool(tool_seconds)],
                                                                      checkpointer=saver), Path(tmp) / "r.sqlite"),
        }


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = ["| agent | `values` snapshots | first step after | answer after | messages | steps | bytes/step |",
            "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        rows.append(f"| {name} | {r['snapshots']} | {r['first_step']:.2f} s | {r['answer']:.2f} s | {r['messages']} "
                    f"| {r['steps']} | {r['per_step']:.0f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[1].strip())
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per model call")
    parser.add_argument("--tool-seconds", type=float, default=0.2, help="seconds per tool call")
    args = parser.parse_args(argv)
    results = run(args.latency, args.tool_seconds)
    answers = {r["answer_text"] for r in results.values()}
    print(f"model call {args.latency} s, tool call {args.tool_seconds} s; both answered {', '.join(sorted(answers))}")
    print(table(results))


if __name__ == "__main__":
    main()
