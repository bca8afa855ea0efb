"""Restricted, budgeted execution of one code node.

RestrictedPython compiles the statement (no imports, no dunder names or attributes, guarded attribute
access, no ``str.format`` walks); the globals hold a curated set of builtins and safe facades of ``re``,
``json`` and ``math``. A per-thread ``sys.settrace`` hook counts executed lines and wall time; the budget
exception derives from ``BaseException`` and ``except BaseException`` / bare ``except`` are rejected at
validation, so user code cannot swallow it. ``print`` writes to a buffer owned by this run: the process
``sys.stdout`` is never touched, so concurrent episodes cannot mix their output.
"""

from __future__ import annotations

import ast
import json
import math
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import CodeType, SimpleNamespace
from typing import Any

from RestrictedPython import RestrictingNodeTransformer, compile_restricted, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    raise_,
    safer_getattr,
)

from recode_graph.sandbox import shown
from recode_graph.sandbox.budget import FILENAME, Budget, BudgetExceeded
from recode_graph.sandbox.plain import NotPlain, Unstorable, encode, printable, restore
from recode_graph.sandbox.regexes import Regex

MAX_OUTPUT = 4000


class EpisodeStop(BaseException):
    """Raised by a primitive to end the block at once (environment finished, final answer given)."""


@dataclass(frozen=True)
class Limits:
    max_lines: int = 2_000_000  # executed bytecode operations of user code
    max_seconds: float = 10.0  # the statement's own computation (time waiting for tools does not count)
    max_output: int = MAX_OUTPUT
    max_memory_mb: int = 1024  # what one statement may allocate in its worker process (worker executor)
    max_result_bytes: int = 16 * 2**20  # the variables one statement changes, as sent back to the host
    max_calls: int = 1000  # primitive calls (tools, run, ...) one statement may make (worker executor)
    max_state_bytes: int = 64 * 2**20  # an episode's variables plus the calls its trajectory keeps (as JSON)
    max_episode_bytes: int = 256 * 2**20  # what the host keeps per episode: every value assigned, output, calls
    max_tool_seconds: float = 300.0  # time one statement may spend waiting for tool and environment calls

    def __post_init__(self) -> None:
        for name in ("max_lines", "max_output", "max_memory_mb", "max_result_bytes", "max_calls", "max_state_bytes",
                     "max_episode_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")
        for name in ("max_seconds", "max_tool_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < float("inf"):
                raise ValueError(f"Limits.{name} must be a positive number, got {value!r}")


_DROP_BUILTINS = {"setattr", "delattr", "__build_class__", "_getattr_", "id", "KeyboardInterrupt",
                  "SystemExit", "GeneratorExit", "BaseException"}


_JSON_NAMES = {n: getattr(json, n) for n in ("loads", "dumps", "JSONDecodeError")}  # read once; a statement gets
_MATH_NAMES = {n: getattr(math, n) for n in dir(math) if not n.startswith("_")}  # a fresh namespace of them


MAX_SIZE = 10_000_000  # elements or characters one operation may build


def _size(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


def _binop(op: str, x: Any, y: Any) -> Any:
    """``+``, ``*``, ``**`` and ``<<`` with a size check, so one expression cannot build a huge value in C."""
    if op == "*":
        if isinstance(x, int) and _size(y):
            x, y = y, x
        if _size(x) and isinstance(y, int) and _size(x) * max(y, 0) > MAX_SIZE:
            raise MemoryError(f"result too large (more than {MAX_SIZE} items)")
        return x * y
    if op == "+":
        if _size(x) + _size(y) > MAX_SIZE and not isinstance(x, int | float):
            raise MemoryError(f"result too large (more than {MAX_SIZE} items)")
        return x + y
    if op == "**":
        if isinstance(x, int) and isinstance(y, int) and abs(x) > 1 and y > 100_000:
            raise MemoryError("exponent too large")
        return x**y
    if op == "%":  # text formatting shows no object addresses (recode_graph.sandbox.shown)
        return shown.percent(x, y) if type(x) in (str, bytes) else x % y
    if isinstance(y, int) and y > 100_000:
        raise MemoryError("shift too large")
    return x << y


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_SIZE:
        raise MemoryError(f"range too large (more than {MAX_SIZE} items)")
    return r


_PADDING = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


_NO_DEFAULT = object()


def _getattr(obj: Any, name: str, default: Any = _NO_DEFAULT) -> Any:
    """RestrictedPython's guarded getattr (AttributeError when missing), plus width-checked str padding."""
    attr = safer_getattr(obj, name, raise_ if default is _NO_DEFAULT else default)
    if name == "args" and isinstance(obj, BaseException):  # CPython puts reprs (addresses) into some messages
        return shown.exception_args(obj)
    if name in _PADDING and isinstance(obj, str):
        def padded(width: int, *args: Any) -> str:
            if isinstance(width, int) and width > MAX_SIZE:
                raise MemoryError(f"result too large (more than {MAX_SIZE} characters)")
            return attr(width, *args)  # type: ignore[no-any-return]

        return padded
    return attr


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus size-checked ``*``, ``**`` and ``<<``, and ``%`` and f-strings that show
    no object addresses (``recode_graph.sandbox.shown``)."""

    _OPS = {ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Add: "+", ast.Mod: "%"}

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        node = self.node_contents_visit(node)  # type: ignore[assignment]
        spec = node.format_spec if node.format_spec is not None else ast.Constant(value="")
        call = ast.Call(func=ast.Name(id="_formatted_", ctx=ast.Load()),
                        args=[node.value, ast.Constant(value=node.conversion), spec], keywords=[])
        value = ast.FormattedValue(value=call, conversion=-1, format_spec=None)
        return ast.fix_missing_locations(ast.copy_location(value, node))

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)  # type: ignore[assignment]
        op = self._OPS.get(type(node.op))
        if op is None:
            return node
        call = ast.Call(func=ast.Name(id="_binop_", ctx=ast.Load()),
                        args=[ast.Constant(value=op), node.left, node.right], keywords=[])
        return ast.fix_missing_locations(ast.copy_location(call, node))


def _inplace(op: str, x: Any, y: Any) -> Any:
    ops: dict[str, Callable[[Any, Any], Any]] = {
        "+=": lambda a, b: _binop("+", a, b), "-=": lambda a, b: a - b, "*=": lambda a, b: _binop("*", a, b),
        "/=": lambda a, b: a / b, "//=": lambda a, b: a // b, "%=": lambda a, b: _binop("%", a, b),
        "**=": lambda a, b: _binop("**", a, b), "|=": lambda a, b: a | b, "&=": lambda a, b: a & b,
        "^=": lambda a, b: a ^ b, "<<=": lambda a, b: _binop("<<", a, b), ">>=": lambda a, b: a >> b,
    }
    if op not in ops:
        raise SyntaxError(f"operator {op} is not allowed")
    return ops[op](x, y)


def safe_builtins_dict() -> dict[str, Any]:
    """The builtins code nodes may use (built fresh per call: nothing shared between runs)."""
    b = {k: v for k, v in safe_builtins.items() if k not in _DROP_BUILTINS}
    b.update(
        list=list, dict=dict, set=set, tuple=tuple, frozenset=frozenset, sorted=sorted, reversed=reversed,
        enumerate=enumerate, zip=zip, map=map, filter=filter, min=min, max=max, sum=sum, any=any, all=all,
        next=next, iter=iter, range=_range,
    )
    b.update(shown.BUILTINS)  # str, repr, ascii, format, hash: no object addresses
    return b


def module_facades(budget: Budget | None = None) -> dict[str, Any]:
    """``re`` (time-limited by ``budget``, see ``recode_graph.sandbox.regexes``), ``json`` and ``math``."""
    return {
        "re": Regex(budget.remaining) if budget is not None else Regex(),
        "json": SimpleNamespace(**_JSON_NAMES),
        "math": SimpleNamespace(**_MATH_NAMES),
    }


class _Printer:
    """RestrictedPython's print hook, writing into one run's buffer (capped)."""

    def __init__(self, sink: list[str], cap: int) -> None:
        self._sink = sink
        self._cap = cap

    def __call__(self, _getattr_: Any = None) -> _Printer:
        return self

    def _call_print(self, *objects: Any, sep: str = " ", end: str = "\n", **_: Any) -> None:
        used = sum(len(s) for s in self._sink)
        if used >= self._cap:
            return
        text = shown.text_of(sep).join(shown.text_of(o) for o in objects) + shown.text_of(end)
        if used + len(text) > self._cap:
            text = text[: self._cap - used] + "\n[output truncated]\n"
        self._sink.append(text)

    def __str__(self) -> str:  # the `printed` name
        return "".join(self._sink)


@dataclass
class ExecResult:
    ok: bool
    stdout: str = ""
    error: str = ""
    error_type: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stopped: str = ""  # reason an EpisodeStop ended the block
    objects: dict[str, Any] = field(default_factory=dict)  # values that are not plain data (kept in memory)


def restricted_compile(code: str) -> Any:
    """Compile with RestrictedPython; raises SyntaxError with RestrictedPython's messages."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        result = compile_restricted(code, filename=FILENAME, mode="exec", policy=_Policy)
    return result


RESERVED = frozenset({"__builtins__", "_print_", "_getattr_", "_getitem_", "_getiter_", "_write_", "_inplacevar_",
                      "_iter_unpack_sequence_", "_unpack_sequence_", "_apply_", "_binop_", "_formatted_", "__name__",
                      "__metaclass__", "re", "json", "math", "_print", "printed"})  # never variables (nor primitives)


def compile_statement(code: str) -> CodeType | ExecResult:
    """``code`` compiled under the policy, or the failed result that says why it cannot be."""
    try:
        return restricted_compile(code)  # type: ignore[no-any-return]
    except SyntaxError as exc:
        return ExecResult(ok=False, error=printable(f"SyntaxError: {exc}"), error_type="SyntaxError")
    except (RecursionError, MemoryError, ValueError) as exc:  # 100,000-deep expressions, NUL bytes
        return ExecResult(ok=False, error=f"SyntaxError: the code cannot be compiled ({type(exc).__name__})",
                          error_type="SyntaxError")


def compile_errors(code: str | ast.Module) -> list[str]:
    """RestrictedPython's policy errors for ``code`` (empty when it compiles); given a parsed tree, the policy
    rewrites that tree in place."""
    import warnings

    from RestrictedPython import compile_restricted_exec

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        res = compile_restricted_exec(code, filename=FILENAME, policy=_Policy)
    return list(res.errors)


def short_traceback(exc: BaseException, code: str) -> str:
    """A few lines: where in the node's code it failed and the exception, without engine frames."""
    lines = code.splitlines()
    where = []
    for fr in traceback.extract_tb(exc.__traceback__):
        if fr.filename == FILENAME and fr.lineno and 0 < fr.lineno <= len(lines):
            where.append(f"  line {fr.lineno}: {lines[fr.lineno - 1].strip()}")
    msg = f"{type(exc).__name__}: {exc}"
    return "\n".join(where[-3:] + [msg])[:1500]


def run_code(
    code: str,
    variables: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]],
    limits: Limits = Limits(),
    budget: Budget | None = None,
    objects: Mapping[str, Any] | None = None,
    byte_code: CodeType | None = None,
) -> ExecResult:
    """Execute ``code`` with ``variables`` (copied in, never mutated) and ``functions`` (primitives).

    Returns the new namespace (plain, checkpointable values in ``variables``, regex matches and patterns in
    their plain form; other values such as iterators in ``objects``, which the caller may keep in memory),
    captured output and a short traceback.
    ``budget`` lets primitives pause the clock (see ``Budget.paused``); ``byte_code``: ``code`` compiled already
    (``compile_statement``).
    """
    sink: list[str] = []
    budget = budget or Budget(limits)
    res = ExecResult(ok=True)
    if byte_code is None:
        compiled = compile_statement(code)
        if isinstance(compiled, ExecResult):
            return compiled
        byte_code = compiled
    reserved = set(functions) | RESERVED
    glb: dict[str, Any] = {
        "__builtins__": safe_builtins_dict(),
        "__name__": "recode",
        "__metaclass__": type,
        "_print_": _Printer(sink, limits.max_output),
        "_getattr_": _getattr,
        "_getitem_": default_guarded_getitem,
        "_getiter_": iter,
        "_write_": full_write_guard,
        "_inplacevar_": _inplace,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_apply_": lambda f, *a, **k: f(*a, **k),
        "_binop_": _binop,
        "_formatted_": shown.formatted,
    }
    facades = module_facades(budget)
    glb.update(facades)
    glb.update({name: restore(value, compile=facades["re"].compile) for name, value in variables.items()})
    glb.update({k: v for k, v in (objects or {}).items() if k not in variables})
    glb.update(functions)
    try:
        with budget.running():
            exec(byte_code, glb)  # noqa: S102 - restricted code object, curated globals
    except EpisodeStop as stop:
        res.stopped = str(stop) or "stopped"
    except BudgetExceeded as exc:
        res.ok, res.error, res.error_type = False, f"BudgetExceeded: {exc}", "BudgetExceeded"
    except RecursionError as exc:
        res.ok, res.error, res.error_type = False, f"RecursionError: {exc}", "RecursionError"
    except Exception as exc:  # user code errors become repair material
        res.ok, res.error, res.error_type = False, short_traceback(exc, code), type(exc).__name__
    res.stdout = printable("".join(sink))
    res.error = printable(shown.scrub(res.error))
    refused: list[str] = []
    for name, value in glb.items():
        if name in reserved or name.startswith("_"):
            continue
        try:
            res.variables[name] = encode(value)
            continue
        except Unstorable as exc:
            refused.append(f"{name}: {exc}")
            continue
        except (NotPlain, RecursionError):
            pass
        if not callable(value) or name in variables:
            res.objects[name] = value
            if objects is None or name not in objects or objects[name] is not value:
                res.notes.append(f"variable {name!r} ({type(value).__name__}) is not plain data: kept in memory "
                                 "only, not in checkpoints")
    if refused and res.ok and not res.stopped:  # the model repairs it (a final answer or stop stands)
        res.ok, res.error_type = False, "ValueError"
        res.error = printable("ValueError: a variable cannot be stored: " + "; ".join(refused)[:1000] +
                              ". Keep text valid (no lone surrogates) and data shallow.")
    return res
