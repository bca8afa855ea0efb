"""The agent of the approval-binding property test (tests/test_approval_binding.py) and its child process
(tests/binding_child.py): generated code that computes other calls when it is run again, reviewed and
side-effect tools that log every real call, and a seeded reviewer that answers in either approval schema."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from langchain_core.tools import tool
from langgraph.types import Command

from recode_graph import ScriptedChatModel, create_recode_agent, expansion, side_effects

NAMES = ("alice", "mallory", "bob")


def make_tools(sends: Path, thread: str) -> list[Any]:
    """Tools whose real calls are appended to ``sends`` (JSON lines: thread, tool, args)."""

    def note(name: str, args: dict[str, Any]) -> None:
        with open(sends, "a") as fh:
            fh.write(json.dumps({"thread": thread, "tool": name, "args": args}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    @tool
    def rand() -> int:
        """A random number."""
        return random.randrange(1000)

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @tool
    def send_email(to: str, body: str) -> str:
        """Send an email."""
        note("send_email", {"to": to, "body": body})
        return f"sent {to}|{body}"

    @tool
    def publish(text: str) -> str:
        """Publish a note."""
        note("publish", {"text": text})
        return f"published {text}"

    return [rand, add, side_effects(send_email), side_effects(publish)]


def program(seed: int) -> str:
    """One compound statement (so every call is in the statement that is run again on resume) whose calls
    depend on heap addresses, set order and a tool's random values."""
    rng = random.Random(seed)
    lines = ["order = list({'alice', 'mallory', 'bob'})",
             "try:\n        addr = int(repr(iter([]))[-7:-1], 16) // 16\n    except ValueError:\n        addr = 0",
             ]
    if rng.random() < 0.6:  # an extra call shifts the positions of later ones (rand() is then called again)
        lines.append("if addr % 2:\n        add(addr % 7, 1)")
    lines.append("n = rand()")
    lines.append(f"r1 = send_email(order[(addr + n) % 3] + '@corp.example', 'hello ' + str(n % {rng.choice([2, 5])}))")
    if rng.random() < 0.7:
        lines.append("p = publish('note ' + order[0])")
    if rng.random() < 0.6:
        lines.append("r2 = send_email(order[1] + '@corp.example', 'again ' + str(addr % 3))")
    body = "\n".join("    " + line for line in lines)
    return f"if True:\n{body}\nfinal_answer('done')"


def agent(seed: int, sends: Path, thread: str, checkpointer: Any, schema: str, executor: Any = "workers") -> Any:
    model = ScriptedChatModel(by_call={"solve": expansion("", program(seed)),
                                       "repair:if": expansion("", "final_answer('stopped')")})
    return create_recode_agent(model, tools=make_tools(sends, thread), checkpointer=checkpointer,
                               approve={"send_email": True}, approval_schema=schema, executor=executor)


def read_request(value: Any) -> dict[str, Any]:
    """name, args, error, previous, kind of a request in either schema."""
    if isinstance(value, list):
        item = value[0]
        return {"name": item["action_request"]["action"], "args": item["action_request"]["args"],
                "error": item.get("description", "").startswith("**Answer refused"),
                "previous": item.get("previous"), "digest": item.get("digest")}
    return {"name": value["action_requests"][0]["name"], "args": value["action_requests"][0]["args"],
            "error": bool(value.get("error")), "previous": value.get("previous"), "digest": value.get("digest"),
            "side_effect": value.get("side_effect")}


def decide(rng: random.Random, request: dict[str, Any], schema: str) -> tuple[dict[str, Any], Any]:
    """A reviewer's decision (as a record) and the resume value in ``schema``."""
    name, side_effect = request["name"], "side_effect" in request and request["side_effect"] is not None
    kinds = ["approve", "respond", "reject"] if side_effect or name != "send_email" else \
        ["approve", "approve", "edit", "respond", "reject"]
    kind = rng.choice(kinds)
    decision: dict[str, Any] = {"type": kind}
    if kind == "edit":
        decision["edited_action"] = {"name": name, "args": {"to": f"edited{rng.randrange(9)}@corp.example",
                                                            "body": "edited"}}
    elif kind in ("respond", "reject"):
        decision["message"] = f"{kind} {rng.randrange(9)}"
    if schema == "agent-inbox" and rng.random() < 0.7:
        inbox = {"approve": {"type": "accept", "args": None},
                 "edit": {"type": "edit", "args": {"action": name, "args": decision.get("edited_action", {})
                                                   .get("args")}},
                 "respond": {"type": "response", "args": decision.get("message")},
                 "reject": {"type": "ignore", "args": None}}[kind]
        if kind == "reject":
            decision["message"] = "the reviewer ignored this request"
        return decision, [inbox]
    return decision, {"decisions": [decision]}


def drive(graph: Any, config: dict[str, Any], first: Any, rng: random.Random, schema: str,
          stop_after: int | None = None) -> dict[str, Any]:
    """Invoke with ``first``, answer every interrupt (at most ``stop_after`` of them); the log of it."""
    asked: list[dict[str, Any]] = []
    if first == "pending":  # answer what the thread waits for (a new process resuming a paused run)
        out = {"__interrupt__": graph.get_state(config).interrupts}
    else:
        out = graph.invoke(first, config)
    while "__interrupt__" in out:
        request = read_request(out["__interrupt__"][0].value)
        if stop_after is not None and len(asked) >= stop_after:
            return {"asked": asked, "paused": request}
        decision, value = decide(rng, request, schema)
        asked.append({**request, "decision": decision})
        out = graph.invoke(Command(resume=value), config)
    return {"asked": asked, "paused": None, "status": out.get("status"),
            "trajectory": [{k: s.get(k) for k in ("name", "args", "output", "responded")}
                           for s in out.get("trajectory", [])]}
