"""What a tool call gives the code and the state: the record read from the tool's ``ToolMessage`` / ``Command``
(or a list of them), and the step's merged ``Command`` updates (``recode_graph.engine.toolcall``)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage, ToolMessage
from langgraph.types import Command

from recode_graph.sandbox.plain import stored


class ToolCommandError(ValueError):
    """A tool returned a ``Command`` the agent cannot apply (unknown state key, goto, parent graph)."""


def read_result(name: str, call_id_: str, result: Any, values: dict[int, Any], settable: frozenset[str]
                ) -> dict[str, Any]:
    """What the code gets and what the state gets from a tool's ToolMessage / Command (or a list of them)."""
    items = result if isinstance(result, list) else [result]
    record: dict[str, Any] = {"output": None}
    update: dict[str, Any] = {}
    found = False
    for item in items:
        if isinstance(item, Command):
            for key, value in _command_update(name, item, settable).items():
                if key != "messages":
                    update[key] = value
                    continue
                for message in value:
                    if isinstance(message, ToolMessage) and message.tool_call_id == call_id_:
                        found = True
                        record.update(_message_record(message, values))
                    elif not isinstance(message, ToolMessage):
                        update.setdefault("messages", []).append(message)
        elif isinstance(item, ToolMessage):
            found = True
            record.update(_message_record(item, values))
        elif isinstance(item, BaseMessage):
            update.setdefault("messages", []).append(item)
        else:
            raise ToolCommandError(f"tool {name!r} returned {type(item).__name__}, expected a value, a "
                                   "ToolMessage or a Command")
    if not found and not update:
        raise ToolCommandError(f"tool {name!r} returned neither a result nor a state update")
    record["output"] = stored(record["output"])  # the checkpoint form (or the text) of what the tool returned
    if "artifact" in record:
        record["artifact"] = stored(record["artifact"])
    if update:
        record["update"] = update
    return record


def _message_record(message: ToolMessage, values: dict[int, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"output": values[id(message)] if id(message) in values else message.content}
    if message.artifact is not None:
        record["artifact"] = message.artifact
    if message.status == "error":
        record["status"] = "error"
    return record


def _command_update(name: str, command: Command, settable: frozenset[str]) -> dict[str, Any]:
    if command.graph is not None or command.goto or command.resume is not None:
        raise ToolCommandError(f"tool {name!r} returned a Command with goto/graph/resume; the ReCode agent "
                               "applies only Command(update=...) from tools")
    update = command.update
    if update is None:
        return {}
    if isinstance(update, (list, tuple)):
        update = dict(update)
    if not isinstance(update, dict):
        raise ToolCommandError(f"tool {name!r} returned Command(update=...) that is not a dict")
    unknown = sorted(k for k in update if k != "messages" and k not in settable)
    if unknown:
        allowed = ", ".join(sorted({"messages", *settable}))
        raise ToolCommandError(f"tool {name!r} returned Command(update=...) for {', '.join(map(repr, unknown))}, "
                               f"not a state key tools may set (settable: {allowed}); declare the key in "
                               "create_recode_agent(state_schema=...)")
    if "messages" in update and not isinstance(update["messages"], list):
        update = {**update, "messages": [update["messages"]]}
    return update


def merge_updates(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Tool updates of one step, in order: messages are appended, other keys keep the last value."""
    out = dict(left)
    for key, value in right.items():
        out[key] = (out.get(key) or []) + list(value) if key == "messages" else value
    return out
