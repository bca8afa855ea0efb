"""Reading the model's answer: ``<think>``/``<execute>`` parsing and validation of the code.

An expansion is valid when it parses, has at least one statement, defines nothing (no def/class/
import/global), catches no ``BaseException``, calls forbidden builtins nowhere, passes RestrictedPython's
policy, and calls placeholder functions (names that are neither primitives nor builtins nor assigned in
the block) only as a whole top-level statement: ``f(x)`` or ``a, b = f(x)``.
"""

from __future__ import annotations

import ast
import hashlib
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from recode_graph.sandbox import compile_errors
from recode_graph.sandbox.plain import is_text, storable

MAX_CODE = 64 * 1024  # characters of code in one answer
MAX_THOUGHT = 16 * 1024  # characters of an answer's <think> part kept in the tree

FORBIDDEN_CALLS = frozenset({
    "getattr", "setattr", "delattr", "eval", "exec", "compile", "open", "globals", "locals", "vars",
    "__import__", "input", "breakpoint", "help", "dir", "exit", "quit", "memoryview", "type", "super",
    "object", "classmethod", "staticmethod", "property",
})

_THINK = re.compile(r"<think>(.*?)(?:</think>|(?=<execute>)|$)", re.S)
_EXECUTE = re.compile(r"<execute>(.*?)(?:</execute>|$)", re.S)
_ANY_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)\n?```", re.S)
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n(.*?)\n?\s*```\s*$", re.S)
_CLOSING_FENCE = re.compile(r"^[ \t]*```[ \t]*$", re.M)


class InvalidExpansion(ValueError):
    """The answer cannot be used; the message is the hint for the re-ask."""


class UndefinedNames(InvalidExpansion):
    """The answer reads variables that do not exist. Advisory: when the model gives the same answer again,
    it runs anyway and the statement that fails is repaired with its traceback (paper §3)."""


@dataclass
class Statement:
    code: str
    call: str = ""  # placeholder name, when the statement is a placeholder call
    args: str = ""  # the call's argument source, for the self-recursion check
    targets: list[str] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)


@dataclass
class Expansion:
    thought: str
    code: str
    statements: list[Statement]


def answer_text(content: Any) -> str:
    """The text of a model's answer: ``content`` as a string, or the text blocks of a list of content blocks
    (other blocks, such as images or tool calls, carry no code). Never raises."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b if isinstance(b, str) else b.get("text") if isinstance(b, dict) and b.get("type") == "text"
                 else None for b in content]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def answer_digest(text: str) -> str:
    """A short digest of an answer, whitespace-insensitive (lone surrogates included: ``surrogatepass``)."""
    return hashlib.sha1(" ".join(text.split()).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def clean_thought(thought: str) -> str:
    """The ``<think>`` part as the tree keeps it: at most ``MAX_THOUGHT`` characters, lone surrogates and NUL
    escaped (any checkpointer stores it)."""
    if len(thought) > MAX_THOUGHT:
        thought = thought[:MAX_THOUGHT] + f" [... {len(thought) - MAX_THOUGHT} more characters]"
    return storable(thought)


def parse_answer(text: str) -> tuple[str, str]:
    """(thought, code) from a model answer; a missing ``</execute>`` (stop sequence) is tolerated."""
    think = _THINK.search(text)
    thought = clean_thought(think.group(1).strip()) if think else ""
    blocks = list(_EXECUTE.finditer(text))
    if not blocks:
        block = _ANY_FENCE.search(text)
        if block:  # small models sometimes answer with a fenced block instead of the tags
            return thought, _dedent(block.group(1))
        raise InvalidExpansion("Your answer had no <execute> block. Answer with <think>...</think> and then "
                               "the code inside <execute>...</execute>.")
    # an answer split into several <think>/<execute> pairs is one plan: its blocks run in order
    return thought, "\n".join(_block_code(found.group(1)) for found in blocks)


def _block_code(raw: str) -> str:
    code = raw.strip("\n")
    fenced = _FENCE.match(code)
    if fenced:
        code = fenced.group(1)
    else:  # "```python <think>..<execute>..```" and prose after it: the code ends at the closing fence
        code = _CLOSING_FENCE.split(code, maxsplit=1)[0]
    return _dedent(code)


def _dedent(code: str) -> str:
    import textwrap

    return textwrap.dedent(code).strip("\n")


def names_loaded(node: ast.AST) -> list[str]:
    seen: dict[str, None] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            seen.setdefault(sub.id, None)
    return list(seen)


def _assigned_names(nodes: list[ast.AST]) -> set[str]:
    """Every name the block (all its ``nodes``) binds anywhere: assignments, loop and comprehension targets,
    ``as`` names, lambda parameters, match captures."""
    out: set[str] = set()
    for sub in nodes:
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store | ast.Del):
            out.add(sub.id)
        elif isinstance(sub, ast.arg):
            out.add(sub.arg)
        elif isinstance(sub, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and sub.name:
            out.add(sub.name)
        elif isinstance(sub, ast.MatchMapping) and sub.rest:
            out.add(sub.rest)
    return out


def _undefined_names(nodes: list[ast.AST], defined: set[str]) -> list[str]:
    """Names the block (all its ``nodes``) reads (not as a called function) that neither exist nor are bound in
    the block."""
    called = {id(sub.func) for sub in nodes if isinstance(sub, ast.Call)}
    reads = sorted((sub.lineno, sub.col_offset, sub.id) for sub in nodes
                   if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and id(sub) not in called
                   and sub.id not in defined)
    return list(dict.fromkeys(name for _, _, name in reads))  # in reading order


def _target_names(targets: list[ast.expr]) -> list[str] | None:
    names: list[str] = []
    for t in targets:
        if isinstance(t, ast.Name):
            names.append(t.id)
        elif isinstance(t, ast.Tuple | ast.List) and all(isinstance(e, ast.Name) for e in t.elts):
            names.extend(e.id for e in t.elts)  # type: ignore[attr-defined]
        else:
            return None
    return names


def placeholder_call(stmt: ast.stmt, known: set[str]) -> tuple[ast.Call, list[str]] | None:
    """The call and assigned names if ``stmt`` is ``f(...)`` or ``a, b = f(...)`` with unknown ``f``."""
    value: ast.expr | None = None
    targets: list[str] = []
    if isinstance(stmt, ast.Expr):
        value = stmt.value
    elif isinstance(stmt, ast.Assign):
        value = stmt.value
        names = _target_names(stmt.targets)
        if names is None:
            return None
        targets = names
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None and isinstance(stmt.target, ast.Name):
        value, targets = stmt.value, [stmt.target.id]
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id not in known:
        return value, targets
    return None


_TOO_DEEP = ("Your code nests expressions too deeply for this sandbox. Write it as several simpler statements "
             "with intermediate variables.")


def parse_code(code: str) -> ast.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(code)
    except SyntaxError as exc:
        line = f" (line {exc.lineno})" if exc.lineno else ""
        raise InvalidExpansion(f"Your code has a syntax error{line}: {exc.msg}. Write valid Python.") from None
    except (RecursionError, MemoryError):
        raise InvalidExpansion(_TOO_DEEP) from None
    except ValueError:  # NUL bytes (a SyntaxError from Python 3.12 on)
        raise InvalidExpansion("Your code contains null bytes (NUL characters). Write plain text; write '\\x00' in a "
                               "string literal if you need one.") from None


_NEWLINE = re.compile(r"\r\n|\r|\n")


class _Source:
    """Source segments of a block's statements in linear time (``ast.get_source_segment`` splits the whole
    source again on every call: quadratic in the number of statements)."""

    def __init__(self, code: str) -> None:
        self.lines: list[str] = []
        start = 0
        for found in _NEWLINE.finditer(code):
            self.lines.append(code[start:found.end()])
            start = found.end()
        self.lines.append(code[start:])

    def segment(self, node: ast.stmt) -> str | None:
        if node.end_lineno is None or node.end_col_offset is None:
            return None
        first, last = node.lineno - 1, node.end_lineno - 1
        if first == last:
            return self.lines[first].encode()[node.col_offset:node.end_col_offset].decode()
        head = self.lines[first].encode()[node.col_offset:].decode()
        tail = self.lines[last].encode()[:node.end_col_offset].decode()
        return "".join([head, *self.lines[first + 1:last], tail])


def validate(code: str, known: set[str], *, expanding: tuple[str, str] | None = None,
             variables: set[str] | frozenset[str] = frozenset(), check_names: bool = True) -> list[Statement]:
    """Check ``code`` and split it into top-level statements; raises ``InvalidExpansion`` with a hint.

    ``known``: callable names available in the sandbox (primitives and builtins). ``expanding``: the
    (name, argument source) of the placeholder being expanded, to reject a call of itself. Linear in the
    size of ``code``, which is capped at ``MAX_CODE`` characters.
    """
    if not code.strip():
        raise InvalidExpansion("Your <execute> block was empty. Write the code that achieves the goal.")
    if len(code) > MAX_CODE:
        raise InvalidExpansion(
            f"Your code is {len(code) // 1024} KB long; the limit is {MAX_CODE // 1024} KB. Write a shorter block: "
            "loop over a list instead of writing every step out, and leave details to new sub-goal functions.")
    if not is_text(code):
        raise InvalidExpansion("Your code contains a lone surrogate character (an invalid code point). Use only "
                               "valid text, or write it as an escape sequence such as '\\u00e9'.")
    try:
        return _validate(code, known, expanding, variables, check_names)
    except (RecursionError, MemoryError):
        raise InvalidExpansion(_TOO_DEEP) from None


def _validate(code: str, known: set[str], expanding: tuple[str, str] | None,
              variables: set[str] | frozenset[str], check_names: bool) -> list[Statement]:
    """Parsed once: the checks read one walk of the tree (each statement's nodes in turn), the compiler's own
    syntax check compiles that tree, and the sandbox's policy transforms it last (it rewrites the tree in place),
    so its errors still come before the ones found after it."""
    tree = parse_code(code)
    if not tree.body:
        raise InvalidExpansion("Your <execute> block had no statements. Write the code that achieves the goal.")
    walks = [list(ast.walk(stmt)) for stmt in tree.body]  # walked once, read by every check below
    nodes = [sub for walk in walks for sub in walk]
    assigned = _assigned_names(nodes) | set(variables)
    for sub in nodes:
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
            raise InvalidExpansion("Do not define functions with def. Call a new descriptive function "
                                   "instead; it will be expanded later.")
        if isinstance(sub, ast.ClassDef):
            raise InvalidExpansion("Do not define classes. Use plain variables, lists and dicts.")
        if isinstance(sub, ast.Import | ast.ImportFrom):
            raise InvalidExpansion("Imports are not allowed; re, json and math are already available.")
        if isinstance(sub, ast.Global | ast.Nonlocal):
            raise InvalidExpansion("global/nonlocal are not allowed: all variables are already shared.")
        if isinstance(sub, ast.ExceptHandler) and (
                sub.type is None or (isinstance(sub.type, ast.Name) and sub.type.id == "BaseException")):
            raise InvalidExpansion("Catch specific exceptions (for example `except ValueError:`), not bare "
                                   "`except:` or BaseException.")
        if isinstance(sub, ast.Return | ast.Yield | ast.YieldFrom | ast.Await):
            raise InvalidExpansion("Do not use return/yield: a sub-goal returns by assigning the variables "
                                   "its call site assigns.")
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in FORBIDDEN_CALLS:
            raise InvalidExpansion(f"{sub.func.id}() is not available in this sandbox.")
    try:  # errors only the compiler finds (`break` outside a loop): it compiles the tree, no second parse
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(tree, "<recode>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise InvalidExpansion(_syntax_error(exc)) from None
    try:
        statements = _statements(code, tree, walks, nodes, known, assigned, expanding, variables, check_names)
        later: InvalidExpansion | None = None
    except InvalidExpansion as exc:
        statements, later = [], exc
    try:
        policy = compile_errors(tree)  # rewrites the tree: nothing reads it after this
    except SyntaxError as exc:
        raise InvalidExpansion(_syntax_error(exc)) from None
    if policy:
        raise InvalidExpansion("Not allowed in this sandbox: " + "; ".join(policy)[:400])
    if later is not None:
        raise later
    return statements


def _syntax_error(exc: SyntaxError) -> str:
    line = f" (line {exc.lineno})" if exc.lineno else ""
    return f"Your code has a syntax error{line}: {exc.msg}. Write valid Python."


def _names_loaded(walk: list[ast.AST]) -> list[str]:
    seen: dict[str, None] = {}
    for sub in walk:
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            seen.setdefault(sub.id, None)
    return list(seen)


def _statements(code: str, tree: ast.Module, walks: list[list[ast.AST]], nodes: list[ast.AST], known: set[str],
                assigned: set[str], expanding: tuple[str, str] | None, variables: set[str] | frozenset[str],
                check_names: bool) -> list[Statement]:
    """The block's statements, after the checks that need names (raises ``InvalidExpansion`` for the first that
    fails)."""
    undefined = _undefined_names(nodes, known | assigned) if check_names else []
    if undefined:
        have = ", ".join(sorted(variables)[:20]) or "none"
        raise UndefinedNames(
            f"Your code reads {', '.join(undefined[:5])}, which {'is' if len(undefined) == 1 else 'are'} not "
            f"defined: no variable has that name (variables: {have}) and your code does not assign it. Use "
            "the variables that exist, or assign the value first.")
    statements: list[Statement] = []
    callable_names = known | assigned
    placeholder_ids: set[int] = set()
    source = _Source(code)
    for stmt, walk in zip(tree.body, walks, strict=True):
        seg = source.segment(stmt) or ast.unparse(stmt)
        found = placeholder_call(stmt, callable_names)
        if found is None:
            statements.append(Statement(code=seg, uses=_names_loaded(walk)))
            continue
        call, targets = found
        placeholder_ids.add(id(call))
        args = ", ".join([ast.unparse(a) for a in call.args] + [ast.unparse(k) for k in call.keywords])
        name = call.func.id  # type: ignore[attr-defined]
        if expanding is not None and (name, args) == expanding:
            raise InvalidExpansion(f"Your code calls {name}({args}) again, the very call being expanded: that "
                                   "never ends. Break the goal into smaller steps or use the primitives.")
        statements.append(Statement(code=seg, call=name, args=args, targets=targets,
                                    uses=names_loaded(call)))
    for sub in nodes:
        if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and id(sub) not in placeholder_ids
                and sub.func.id not in callable_names):
            raise InvalidExpansion(
                f"{sub.func.id}(...) is not a primitive. A new sub-goal function may only be called as a "
                f"whole top-level statement, `{sub.func.id}(...)` or `x = {sub.func.id}(...)`, not inside a "
                "loop, condition or expression.")
    return statements


def call_source(statement_code: str) -> str:
    """The statement as shown on the prompt's ``Expand:`` line (one line)."""
    return " ".join(statement_code.split())
