"""The episodes of the stop benchmark (``recode_graph.bench.stops``), and its library child process.

Two agents, each deterministic for a given script, with a scripted model that answers after a random
50-200 ms and logs every call it *starts* (``RECODE_STOPS_LOG``), so the benchmark can count what a stop made
it pay again:

- ``alfworld``: a bundled sample ALFWorld game with the ``alfworld_generic`` script (nested placeholders,
  environment actions replayed on resume);
- ``tools``: LangChain tools (an instant ``lookup``, a 150 ms ``slow_square``) called from nested
  placeholders, plus a statement that computes for a while in the sandbox.

The ``recode`` command reaches the models by the names ``stops_alfworld`` and ``stops_calc``, which the
children's ``RECODE_MODELS`` allowlist binds to ``alfworld_model`` and ``calc_model`` (``stops.MODELS``).
``python -m recode_graph.bench.stopchild`` runs (or with ``--resume`` continues with
``invoke(None, config)``) one episode through the library, sync or async, on SQLite or Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from langchain_core.tools import tool

from recode_graph.models.scripted import FIXTURES, ScriptedChatModel, expansion

ALFWORLD_TASK = "pick_and_place_simple-Book-None-SideTable-329/trial_T20190908_050633_745514"
TOOLS_INSTRUCTION = "Collect the e-mail addresses of ann, bob and cy, and add the squares of 3, 4 and 5."
CALC_INSTRUCTION = "add the words of every part and the calculator result"
LOG_ENV, DELAY_ENV = "RECODE_STOPS_LOG", "RECODE_STOPS_DELAY"

TOOLS_SCRIPT = {
    "solve": expansion("Addresses first, then the sum of squares.",
                       'people = ["ann", "bob", "cy"]\nemails = collect_emails(people)\nnums = [3, 4, 5]\n'
                       'total = sum_squares(nums)\nfinal_answer(f"{\', \'.join(emails)}; {total}")'),
    "collect_emails": expansion("One lookup per person.",
                                "emails = []\nfor p in people:\n    emails.append(lookup(p))"),
    "sum_squares": expansion("Square each number with the tool, then add.",
                             "squares = [slow_square(x) for x in nums]\nbusy = 0\nfor i in range(40000):\n"
                             "    busy += i % 7\ntotal = sum(squares)"),
}

CALC_SCRIPT = {
    "solve": expansion("Calculator first, then count the words part by part.",
                       'a = calculator("2 + 3 * 4")\nparts = split_parts(instruction)\nn = count_all(parts)\n'
                       'final_answer(f"{a} {n}")'),
    "split_parts": expansion("Split on spaces.", "parts = instruction.split()"),
    "count_all": expansion("Count each part, then spin a little.",
                           "n = 0\nfor p in parts:\n    n = n + word_count(p)\nbusy = 0\nfor i in range(40000):\n"
                           "    busy += i % 7"),
}


class LoggedModel(ScriptedChatModel):
    """A scripted model that logs each call when it starts and answers after ``min_delay``-``max_delay`` s."""

    log_path: str = ""
    min_delay: float = 0.05
    max_delay: float = 0.2

    def _started(self) -> float:
        if self.log_path:
            with open(self.log_path, "a") as fh:
                fh.write(f"{os.getpid()}\n")
        return random.uniform(self.min_delay, self.max_delay)

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        time.sleep(self._started())
        return super()._generate(messages, stop, run_manager, **kwargs)

    async def _agenerate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        await asyncio.sleep(self._started())
        return await super()._agenerate(messages, stop, run_manager, **kwargs)


def _logged(script: dict[str, Any]) -> LoggedModel:
    low, _, high = os.environ.get(DELAY_ENV, "0.05,0.2").partition(",")
    return LoggedModel(by_call=script, log_path=os.environ.get(LOG_ENV, ""), min_delay=float(low),
                       max_delay=float(high or low))


def alfworld_model() -> LoggedModel:
    return _logged(json.loads((FIXTURES / "alfworld_generic.json").read_text()))


def tools_model() -> LoggedModel:
    return _logged(TOOLS_SCRIPT)


def calc_model() -> LoggedModel:
    return _logged(CALC_SCRIPT)


@tool
def lookup(name: str) -> str:
    """The e-mail address of a person."""
    return f"{name}@example.org"


@tool
def slow_square(x: int) -> int:
    """The square of x (takes a moment)."""
    time.sleep(0.15)
    return x * x


# ---------------------------------------------------------------------------------------------------
# The library child: one episode through create_recode_agent, sync or async


def _agent(name: str, saver: Any) -> tuple[Any, dict[str, Any], Any]:
    """(agent, input, environment to close or None)."""
    from recode_graph import create_recode_agent

    if name == "alfworld":
        from recode_graph.tools import load_environment

        env = load_environment("alfworld", split="seen")
        return create_recode_agent(alfworld_model(), environment=env, checkpointer=saver), \
            {"task_id": ALFWORLD_TASK}, env
    return create_recode_agent(tools_model(), tools=[lookup, slow_square], checkpointer=saver), \
        {"instruction": TOOLS_INSTRUCTION}, None


@contextmanager
def sync_saver(store: str) -> Iterator[Any]:
    from recode_graph.persistence.storage import open_checkpointer

    with open_checkpointer(None, store) if store.startswith("postgres") else open_checkpointer(store, None) as saver:
        yield saver


@asynccontextmanager
async def async_saver(store: str) -> AsyncIterator[Any]:
    if store.startswith("postgres"):
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(store) as saver:
            await saver.setup()
            yield saver
    else:
        from recode_graph.persistence.checkpointers import async_sqlite_saver

        async with async_sqlite_saver(store) as saver:
            yield saver


def summary(values: dict[str, Any]) -> dict[str, Any]:
    """What must match an uninterrupted run: status, answer, trajectory, model calls kept in the state."""
    return {"status": values.get("status"), "answer": values.get("answer"),
            "trajectory": [[s["name"], s["args"], s["output"]] for s in values.get("trajectory") or []],
            "calls": (values.get("usage") or {}).get("calls", 0)}


def run_sync(args: argparse.Namespace) -> dict[str, Any]:
    with sync_saver(args.store) as saver:
        agent, payload, env = _agent(args.agent, saver)
        config = {"configurable": {"thread_id": args.thread}}
        try:
            if args.resume and saver.get_tuple(config) is None:
                return {"nothing_stored": True}
            agent.invoke(None if args.resume else payload, config)
            return summary(agent.get_state(config).values)
        finally:
            if env is not None:
                env.close()


async def run_async(args: argparse.Namespace) -> dict[str, Any]:
    async with async_saver(args.store) as saver:
        agent, payload, env = _agent(args.agent, saver)
        config = {"configurable": {"thread_id": args.thread}}
        try:
            if args.resume and await saver.aget_tuple(config) is None:
                return {"nothing_stored": True}
            await agent.ainvoke(None if args.resume else payload, config)
            return summary((await agent.aget_state(config)).values)
        finally:
            if env is not None:
                env.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recode_graph.bench.stopchild")
    parser.add_argument("--store", required=True, help="SQLite path or postgresql:// URL")
    parser.add_argument("--thread", required=True)
    parser.add_argument("--agent", choices=["alfworld", "tools"], required=True)
    parser.add_argument("--mode", choices=["sync", "async"], default="sync")
    parser.add_argument("--resume", action="store_true", help="continue with invoke(None, config)")
    args = parser.parse_args(argv)
    out = run_sync(args) if args.mode == "sync" else asyncio.run(run_async(args))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
