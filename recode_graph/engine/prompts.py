"""Expansion prompts. The system message is static for an episode (rules, primitives, examples) and
byte-identical across calls so provider and llama.cpp prefix caches hit; the human message carries only
the call being expanded, the values it uses, and hints.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from recode_graph.engine.state import Pending, TreeNode
from recode_graph.sandbox.plain import restore

RULES = """\
You are an agent that plans by writing Python. Every goal is a function call. You receive one call at a
time and write the code that carries it out.

How to answer:
- First think briefly inside <think>...</think>, then give the code inside <execute>...</execute>.
- The code may call the primitives listed below, ordinary Python (variables, loops, conditions,
  comprehensions, string methods, re, json, math) and NEW functions you invent.
- A new function is a sub-goal: give it a clear snake_case name and pass it the variables it needs, for
  example `target = find_object(name, places)`. It does not exist yet; it will be written later, when it
  is reached, in the same way. Call a new function only as a whole statement (`f(x)` or `a, b = f(x)`),
  never inside a loop, a condition or a larger expression.
- Use primitives directly when the step is simple; invent sub-goals when it is not.
- All code shares one set of variables. A sub-goal "returns" by assigning the variables named on the
  left of its call, so the code you write for `a, b = f(x)` must assign `a` and `b`.
- Never use def, class, import, return, global, bare except, or names starting with an underscore.
- Keep each answer short: a few statements. print() shows text in the log only.
"""

TOOLS_EXAMPLES = """\
Expand: solve(instruction, observation)
Variables:
  instruction = 'What is the population density of the largest city of Atlantis?'
  observation = ''
Answer:
<think>Find the largest city, get its population and area, divide, report.</think>
<execute>
city = find_largest_city("Atlantis")
density = compute_density(city)
final_answer(f"{city}: {density:.1f} people per km2")
</execute>

Expand: density = compute_density(city)
Variables:
  city = 'Poseidonia'
Must assign: density
Answer:
<think>Look both numbers up and divide them.</think>
<execute>
population = float(lookup(f"population of {city}"))
area = float(lookup(f"area of {city} in km2"))
density = population / area
</execute>
"""


def tool_signatures(tools: Mapping[str, Any], visible: Mapping[str, Any] | None = None) -> str:
    """One line per LangChain tool: ``name(arg: type, ...) -> description``. ``visible``: per tool, the
    arguments the code passes (injected ones are hidden)."""
    lines = []
    for name, tool in tools.items():
        schema = tool.args or {}
        shown = visible.get(name) if visible is not None else None
        params = []
        for arg, spec in schema.items():
            if shown is not None and arg not in shown:
                continue
            kind = spec.get("type", "any") if isinstance(spec, dict) else "any"
            params.append(f"{arg}: {kind}")
        desc = " ".join((tool.description or "").split())
        lines.append(f"- {name}({', '.join(params)}): {desc}")
    return "\n".join(lines)


FINAL_ANSWER = "- final_answer(text): give the final answer to the user; this ends the episode."


def system_prompt(*, actions: str, examples: str, notes: str = "") -> str:
    parts = [RULES, "Primitives:\n" + actions.strip()]
    if notes.strip():
        parts.append(notes.strip())
    parts.append("Examples:\n\n" + examples.strip())
    return "\n\n".join(parts) + "\n"


class _Shown(reprlib.Repr):
    """``repr`` for values that hold an int too long for ``repr`` (Python's 4,300-digit limit)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxlist, self.maxtuple, self.maxset, self.maxdict = 6, 60, 60, 60, 40
        self.maxstring, self.maxother = 200, 200

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() <= 13_000:
            return repr(x)
        return f"<int of {x.bit_length()} bits: {'-' if x < 0 else ''}{hex(abs(x))[:18]}...>"


def render_value(value: Any, limit: int = 600) -> str:
    shown = restore(value)
    try:
        text = repr(shown)  # a saved regex match shows as re.Match does
    except ValueError:  # an int beyond the repr digit limit
        text = _Shown().repr(shown)
    return text if len(text) <= limit else text[: limit - 20] + f"... [{len(text)} chars]"


def human_prompt(node: TreeNode, pending: Pending, variables: Mapping[str, Any]) -> str:
    code = " ".join(str(node.get("code", "")).split())
    head = "Repair" if pending.get("mode") == "repair" else "Expand"
    lines = [f"{head}: {code}", "Variables:"]
    shown = [n for n in node.get("uses", []) if n in variables]
    lines += [f"  {n} = {render_value(variables[n])}" for n in shown] or ["  (none)"]
    if node.get("targets"):  # what the call's caller reads afterwards (the examples show the same line)
        lines.append(f"Must assign: {', '.join(node['targets'])}")
    if pending.get("mode") == "repair":
        lines += ["Error:", str(pending.get("error", "")).strip(),
                  "Write code that achieves this step from the current state. Actions already taken "
                  "cannot be undone."]
    if pending.get("feedback"):
        lines += ["Reviewer feedback:", str(pending["feedback"]).strip()]
    if pending.get("hint"):
        lines += ["Your previous answer was rejected:", str(pending["hint"]).strip()]
    lines.append("Answer:")
    return "\n".join(lines)


def messages(system: str, node: TreeNode, pending: Pending, variables: Mapping[str, Any]) -> list[BaseMessage]:
    return [SystemMessage(content=system), HumanMessage(content=human_prompt(node, pending, variables))]
