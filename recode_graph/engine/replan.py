"""What the root is told when its whole plan has run and the task is not done: where things stand now.

A 1.5B model re-planning from "the plan finished" and the last five actions repeats the plan that just failed
(most re-plans in the issue-24 records re-sent actions the environment had refused, and two held the object
they needed without knowing it). The note gives it the state instead: the situation as the environment's
adapter tracks it (ALFWorld: the place and the held object, which the agent could learn with ``look`` and
``inventory``), the values the plan set, the actions that did nothing, and the last actions.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

from recode_graph.engine.prompts import render_value

SKIP = frozenset({"instruction", "observation"})  # the root's inputs: its prompt shows them already


def replan_note(tree: Mapping[str, Any], variables: Mapping[str, Any], steps: Sequence[Mapping[str, Any]],
                env: Any = None) -> str:
    lines = ["the plan finished but the task is not complete yet."]
    situation = _situation(env, steps)
    if situation:
        lines.append(f"Now: {situation}")
    values = [f"{name} = {render_value(variables[name], 80)}" for name in _plan_names(tree)
              if name in variables and name not in SKIP]
    if values:
        lines.append("Values your plan set: " + "; ".join(values))
    refused = _refused(env, steps)
    if refused:
        lines.append("These actions did nothing (do not repeat them as they were): "
                     + "; ".join(repr(a) for a in refused))
    lines.append("Last actions:\n" + recent_actions(steps))
    return "\n".join(lines)


def recent_actions(steps: Sequence[Mapping[str, Any]], count: int = 5, width: int = 240) -> str:
    """The last ``count`` primitive calls with what they returned, one per line."""
    lines = []
    for step in steps[-count:]:
        args = ", ".join(repr(v) for v in (step.get("args") or {}).values())
        output = " ".join(str(step.get("output", "")).split())
        lines.append(f"  {step['name']}({args}) -> {output[:width]}{'...' if len(output) > width else ''}")
    return "\n".join(lines) if lines else "  (no action taken)"


def _plan_names(tree: Mapping[str, Any]) -> list[str]:
    """Names the root's statements assign, in order (the plan's own values, not its sub-goals' locals)."""
    names: dict[str, None] = {}
    for child in (tree.get("0") or {}).get("children", []):
        try:
            parsed = ast.parse(str((tree.get(child) or {}).get("code", "")))
        except SyntaxError:
            continue
        for stmt in parsed.body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else (
                [stmt.target] if isinstance(stmt, ast.AnnAssign | ast.AugAssign | ast.For) else [])
            for target in targets:
                names.update(dict.fromkeys(n.id for n in ast.walk(target) if isinstance(n, ast.Name)))
    return list(names)


def _synced(env: Any, steps: Sequence[Mapping[str, Any]]) -> bool:
    """Whether ``env`` holds this episode as the trajectory has it (an adapter rebuilt after a restart is
    replayed on the next action, not before)."""
    actions = [str((s.get("args") or {}).get("action", "")) for s in steps if s.get("name") == "run"]
    return env is not None and list(getattr(env, "actions", [])) == [" ".join(a.split()) for a in actions]


def _situation(env: Any, steps: Sequence[Mapping[str, Any]]) -> str:
    return str(env.situation()) if _synced(env, steps) and hasattr(env, "situation") else ""


def _refused(env: Any, steps: Sequence[Mapping[str, Any]], count: int = 6) -> list[str]:
    if not _synced(env, steps):
        return []
    return list(dict.fromkeys(reversed(getattr(env, "refused_actions", []))))[:count][::-1]
