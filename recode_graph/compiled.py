"""The compiled agent: a ``CompiledStateGraph`` with create_agent-like config checks and ``as_tool``.

- A run of an agent that owns a checkpointer needs ``configurable.thread_id`` (a ``ValueError`` naming it,
  as ``create_agent`` gives), and checkpoints each step before the next starts ("sync" durability) unless
  the caller picks another durability.
- ``invoke(None, config)`` continues any thread that is not finished, including one whose status is still
  running while its graph has nothing left to run (``persistence.threadstatus``).
- ``as_tool()`` takes ``instruction`` (and an optional ``observation``) and returns the answer text.
- ``invoke`` / ``ainvoke`` give ``structured_response`` as ``create_agent`` does: an instance of the
  ``response_format``'s pydantic model or dataclass (a dict for a TypedDict or JSON schema). The state keeps
  plain JSON data, so checkpoints, ``stream`` chunks, ``get_state`` and the server carry a dict; so does a run
  nested in a parent graph (its output lands in the parent's checkpoint).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, Field

from recode_graph.compat import load
from recode_graph.engine.structured import ResponseFormat
from recode_graph.persistence.threadstatus import areroute, reroute

_DURABILITY = load("CONFIG_KEY_DURABILITY")
_PARENT_CHECKPOINTER = load("CONFIG_KEY_CHECKPOINTER")


class AgentToolInput(BaseModel):
    """Ask the ReCode agent to carry out a task."""

    instruction: str = Field(description="The task, in plain words.")
    observation: str = Field(default="", description="Optional context the task starts from.")


def _answer_text(output: dict[str, Any]) -> str:
    messages = output.get("messages") or []
    if messages:
        last = messages[-1]
        return last.text if hasattr(last, "text") else str(last.content)
    return str(output.get("answer") or output.get("reason") or "")


class RecodeAgentGraph(CompiledStateGraph):  # type: ignore[type-arg]
    def __init__(self, *, structured_output: ResponseFormat | None = None, **kwargs: Any) -> None:
        # ``with_config`` / ``copy`` rebuild the graph from its ``__dict__``: the response format travels along
        super().__init__(**kwargs)
        self.structured_output = structured_output

    def _typed(self, output: Any, config: RunnableConfig | None, stream_mode: Any) -> Any:
        """``invoke``'s output with ``structured_response`` as the response format's type (see the module doc)."""
        shape = self.__dict__.get("structured_output")
        if shape is None or stream_mode != "values" or ((config or {}).get("configurable") or {}).get("checkpoint_ns"):
            return output
        if isinstance(output, dict) and output.get("structured_response") is not None:
            return {**output, "structured_response": shape.typed(output["structured_response"])}
        value = getattr(output, "value", None)
        if dataclasses.is_dataclass(output) and not isinstance(output, type) and isinstance(value, dict):
            return dataclasses.replace(output, value=self._typed(value, config, stream_mode))  # version="v2"
        return output

    def invoke(self, input: Any, config: RunnableConfig | None = None, *, stream_mode: Any = "values",
               **kwargs: Any) -> Any:
        return self._typed(super().invoke(input, config, stream_mode=stream_mode, **kwargs), config, stream_mode)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, *, stream_mode: Any = "values",
                      **kwargs: Any) -> Any:
        output = await super().ainvoke(input, config, stream_mode=stream_mode, **kwargs)
        return self._typed(output, config, stream_mode)

    def _checked(self, config: RunnableConfig | None, durability: Any) -> Any:
        configurable = (config or {}).get("configurable") or {}
        own = self.checkpointer if isinstance(self.checkpointer, BaseCheckpointSaver) else None
        if own is None:
            return durability
        if "thread_id" not in configurable and _PARENT_CHECKPOINTER not in configurable:
            raise ValueError("this agent has a checkpointer, so each run needs a thread_id: pass "
                             "config={'configurable': {'thread_id': '...'}}")
        if durability is None and _DURABILITY not in configurable:
            return "sync"
        return durability

    def _continues(self, input: Any, config: RunnableConfig | None) -> bool:
        """``invoke(None, config)`` on a thread of this agent's own checkpointer."""
        configurable = (config or {}).get("configurable") or {}
        return (input is None and isinstance(self.checkpointer, BaseCheckpointSaver)
                and "thread_id" in configurable and _PARENT_CHECKPOINTER not in configurable)

    def stream(self, input: Any, config: RunnableConfig | None = None, *, durability: Any = None,
               **kwargs: Any) -> Any:
        durability = self._checked(config, durability)
        if self._continues(input, config):
            reroute(self, config)
        return super().stream(input, config, durability=durability, **kwargs)

    def astream(self, input: Any, config: RunnableConfig | None = None, *, durability: Any = None,
                **kwargs: Any) -> Any:
        durability = self._checked(config, durability)
        if not self._continues(input, config):
            return super().astream(input, config, durability=durability, **kwargs)
        return self._arerouted(config, durability, **kwargs)

    async def _arerouted(self, config: RunnableConfig | None, durability: Any, **kwargs: Any) -> Any:
        await areroute(self, config)
        async for chunk in super().astream(None, config, durability=durability, **kwargs):
            yield chunk

    def as_tool(self, args_schema: Any = None, *, name: str | None = None, description: str | None = None,
                arg_types: dict[str, type] | None = None) -> BaseTool:
        """The agent as a LangChain tool: ``instruction`` (+ optional ``observation``) in, answer text out."""
        if args_schema is not None or arg_types is not None:
            return super().as_tool(args_schema, name=name, description=description, arg_types=arg_types)
        chain = self | RunnableLambda(_answer_text, name="answer")
        return chain.as_tool(AgentToolInput, name=name or self.name or "recode",
                             description=description or "Carry out a task by writing and running a plan as code.")
