"""The graph's state, input and output schemas, merged with the user's ``state_schema`` and middleware.

As in ``langchain.agents.create_agent``: middleware ``state_schema``s first, then the user's schema, then
the agent's own state (which wins a conflict). Fields annotated ``OmitFromInput`` / ``OmitFromOutput`` /
``PrivateStateAttr`` are left out of the input / output schema; the agent's internal keys (``episode``, which
holds the cursor, pending, proposal, next_id, session, ...) are never public, so LangGraph Studio shows a clean
form and a chat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, NotRequired, Required, get_args, get_origin, get_type_hints

from typing_extensions import TypedDict

from recode_graph.engine.state import InputState, OutputState, RecodeState

# keys of LangChain's AgentState that mean nothing here (structured output, middleware jumps)
_AGENT_ONLY = frozenset({"jump_to", "structured_response"})


def _omitted(hint: Any, flag: str) -> bool:
    try:
        from langchain.agents.middleware.types import OmitFromSchema
    except ImportError:  # pragma: no cover - langchain is a dependency
        return False
    if get_origin(hint) in (Required, NotRequired):
        hint = get_args(hint)[0]
    if get_origin(hint) is not Annotated:
        return False
    return any(isinstance(m, OmitFromSchema) and getattr(m, flag) for m in get_args(hint)[1:])


def user_fields(schemas: Sequence[type]) -> dict[str, Any]:
    """Fields the user's and the middleware's schemas add to the agent's own state."""
    own = get_type_hints(RecodeState, include_extras=True)
    out: dict[str, Any] = {}
    for schema in schemas:
        for key, hint in get_type_hints(schema, include_extras=True).items():
            if key not in own and key not in _AGENT_ONLY:
                out[key] = hint
    return out


def build_schemas(state_schema: type | None, middleware_schemas: Sequence[type] = ()) -> tuple[type, type, type]:
    """(state, input, output) TypedDicts for ``StateGraph``."""
    schemas = [*middleware_schemas, *([state_schema] if state_schema is not None else [])]
    extra = user_fields(schemas)
    if not extra:
        return RecodeState, InputState, OutputState
    state = {**extra, **get_type_hints(RecodeState, include_extras=True)}
    inputs = {**{k: h for k, h in extra.items() if not _omitted(h, "input")},
              **get_type_hints(InputState, include_extras=True)}
    outputs = {**{k: h for k, h in extra.items() if not _omitted(h, "output")},
               **get_type_hints(OutputState, include_extras=True)}
    return (TypedDict("RecodeState", state, total=False),  # type: ignore[operator]
            TypedDict("RecodeInput", inputs, total=False),  # type: ignore[operator]
            TypedDict("RecodeOutput", outputs, total=False))  # type: ignore[operator]


def user_keys(state_schema: type | None, middleware_schemas: Sequence[type] = ()) -> frozenset[str]:
    """State keys a tool's ``Command(update=...)`` may set besides ``messages``."""
    return frozenset(user_fields([*middleware_schemas, *([state_schema] if state_schema is not None else [])]))
