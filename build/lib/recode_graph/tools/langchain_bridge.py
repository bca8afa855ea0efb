"""LangChain tools as sandbox primitives: names, argument mapping and invocation through ``tool.invoke``."""

from __future__ import annotations

import keyword
from collections.abc import Callable, Iterable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

RESERVED = frozenset({"run", "final_answer", "print", "re", "json", "math", "solve"})


def as_tools(items: Iterable[BaseTool | Callable[..., Any]]) -> dict[str, BaseTool]:
    """Name → tool; plain functions become ``StructuredTool``s. Bad names raise one-line ValueErrors."""
    out: dict[str, BaseTool] = {}
    for item in items:
        if isinstance(item, BaseTool):
            tool = item
        elif callable(item):
            if not (getattr(item, "__doc__", None) or "").strip():
                raise ValueError(f"tool function {getattr(item, '__name__', item)!r} needs a docstring "
                                 "(it is the description the model reads)")
            tool = StructuredTool.from_function(item)
        else:
            raise ValueError(f"tools must be LangChain tools or functions, got {type(item).__name__}")
        name = tool.name
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            raise ValueError(f"tool name {name!r} is not a valid Python function name")
        if name in RESERVED:
            raise ValueError(f"tool name {name!r} is reserved by the agent; rename the tool")
        if name in out:
            raise ValueError(f"two tools are named {name!r}")
        out[name] = tool
    return out


def map_arguments(tool: BaseTool, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Positional and keyword arguments of a sandbox call → the tool's input dict (by its schema order)."""
    names = list((tool.args or {}).keys())
    if len(args) > len(names):
        raise TypeError(f"{tool.name}() takes {len(names)} argument(s) ({', '.join(names)}), "
                        f"{len(args)} given")
    payload = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key in payload:
            raise TypeError(f"{tool.name}() got multiple values for argument {key!r}")
        if key not in names:
            raise TypeError(f"{tool.name}() got an unexpected argument {key!r} (takes {', '.join(names)})")
        payload[key] = value
    return payload
