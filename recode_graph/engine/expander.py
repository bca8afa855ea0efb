"""Shared by the expand and review nodes: prompt assembly, validation of an answer for a node, and
attaching an accepted expansion to the tree."""

from __future__ import annotations

import ast
from typing import Any

from recode_graph.deps import AgentDeps
from recode_graph.engine import prompts
from recode_graph.engine.code import Statement, placeholder_call, validate
from recode_graph.engine.episode import ep
from recode_graph.engine.events import emit
from recode_graph.engine.state import RecodeState, TreeNode
from recode_graph.engine.tree import TreeDraft, ancestors, attach, placeholder_pending
from recode_graph.sandbox import module_facades, safe_builtins_dict
from recode_graph.tools.grounding import prompt_note


def known_names(deps: AgentDeps, has_env: bool, session: str = "", grounded: bool = False) -> set[str]:
    """Names code may use besides the checkpointed variables: builtins, modules, primitives, and the
    session's in-memory values (a lambda assigned earlier is called, not expanded)."""
    names = set(safe_builtins_dict()) | set(module_facades()) | set(deps.tools) | {"final_answer", "print"}
    names |= set(deps.objects.get(session))
    if has_env:
        names.add("run")
    if grounded:
        names.add("valid_actions")
    return names


def call_signature(code: str) -> tuple[str, str] | None:
    """(name, argument source) of a placeholder statement's call."""
    try:
        stmt = ast.parse(code).body[0]
    except (SyntaxError, IndexError):
        return None
    found = placeholder_call(stmt, set())
    if found is None:
        return None
    call = found[0]
    args = ", ".join([ast.unparse(a) for a in call.args] + [ast.unparse(k) for k in call.keywords])
    return call.func.id, args  # type: ignore[attr-defined]


def system_text(deps: AgentDeps, env: Any, task_type: str) -> str:
    actions: list[str] = []
    examples = deps.examples
    notes = ""
    if env is not None:
        resources = env.prompt_resources(task_type)
        actions.append(resources.actions.strip())
        examples = examples or resources.examples
        notes = "\n".join(n for n in (resources.notes.strip(), prompt_note(env, code=True)) if n)
    if deps.tools:
        visible = {name: spec.visible for name, spec in deps.tool_specs().items()}
        actions.append(prompts.tool_signatures(deps.tools, visible))
    if env is None:  # environment episodes end when the environment says so
        actions.append(prompts.FINAL_ANSWER)
    if deps.response_format is not None:
        notes = f"{notes.strip()}\n\n{deps.response_format.prompt_note()}".strip()
    if deps.system_prompt.strip():
        notes = f"{notes.strip()}\n\nGuidance:\n{deps.system_prompt.strip()}".strip()
    return prompts.system_prompt(actions="\n".join(actions), examples=examples or prompts.TOOLS_EXAMPLES,
                                 notes=notes)


def check(state: RecodeState, node: TreeNode, code: str, known: set[str], check_names: bool = True
          ) -> list[Statement]:
    """Validate ``code`` as the expansion of ``node``; raises ``InvalidExpansion`` with a hint."""
    tree = state.get("tree", {})
    own = call_signature(node.get("code", "")) if node.get("call") else None
    statements = validate(code, known, expanding=own, variables=set(state.get("variables", {})),
                          check_names=check_names)
    lineage = {sig for a in ancestors(tree, node["id"]) if a.get("call")
               for sig in [call_signature(a.get("code", ""))] if sig}
    for st in statements:
        if st.call and (st.call, st.args) in lineage:
            from recode_graph.engine.code import InvalidExpansion

            raise InvalidExpansion(f"Your code calls {st.call}({st.args}), which is already being expanded "
                                   "higher up: that never ends. Use smaller steps or the primitives.")
    return statements


def rerun_hint(node: TreeNode, code: str) -> str:
    """The hint for a repair of a failed statement whose answer is that statement again ("" otherwise): run
    again on the same values it fails the same way, and a small model at temperature 0 can return it answer
    after answer. (A re-plan may repeat a plan: the environment has moved on since it ran.)"""
    if node.get("children") or _lines(str(node.get("code", ""))) != _lines(code):
        return ""
    return "This is the code that just failed; running it again gives the same result. Write different code " \
           "that avoids the error."


def _lines(code: str) -> list[str]:
    return [line.strip() for line in code.splitlines() if line.strip()]


def apply(state: RecodeState, node_id: str, mode: str, thought: str, statements: list[Statement],
          usage: dict[str, int]) -> dict[str, Any]:
    draft = TreeDraft(state.get("tree"), ep(state, "next_id", 1))
    ids = attach(draft, node_id, statements, mode=mode, thought=thought, usage=usage,
                 at=len(state.get("trajectory") or []))
    for child in ids:
        node = draft.get(child)
        emit("node_added", id=child, parent=node_id, code=node["code"], depth=node["depth"],
             placeholder=bool(node.get("call")))
    emit("expanded", id=node_id, mode=mode, thought=thought, children=ids)
    return {"tree": draft.write(), "next_id": draft.next_id, "cursor": ids[0],
            "pending": placeholder_pending(draft, ids[0]), "proposal": None}
