"""Built-in demo tools for ``recode run --instruction`` (safe: no eval, bounded arithmetic)."""

from __future__ import annotations

import ast
import datetime
import math
import operator
from collections.abc import Callable
from typing import Any

# ---------------------------------------------------------------------------------------------------
# Built-in demo tools for `recode run --instruction` (safe: no eval, bounded arithmetic)

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt, "log": math.log, "exp": math.exp, "sin": math.sin, "cos": math.cos, "tan": math.tan,
    "abs": abs, "round": round, "min": min, "max": max}
_CONSTANTS = {"pi": math.pi, "e": math.e}
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 10**100


def _arith(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_arith(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _arith(node.left), _arith(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > MAX_EXPONENT or abs(left) > MAX_MAGNITUDE):
            raise ValueError("exponent or base too large")
        return _BINARY[type(node.op)](left, right)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
            and not node.keywords):
        return _FUNCTIONS[node.func.id](*[_arith(a) for a in node.args])
    raise ValueError(f"unsupported element in expression: {ast.dump(node)[:60]}")


def calculator(expression: str) -> int | float:
    """Evaluate an arithmetic expression: numbers, + - * / // % **, parentheses, pi, e and the functions
    sqrt, log, exp, sin, cos, tan, abs, round, min, max. Returns the number."""
    if len(expression) > 500:
        raise ValueError("expression too long (500 characters at most)")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {exc.msg}") from None
    value = _arith(tree.body)
    if isinstance(value, int) and abs(value) > MAX_MAGNITUDE**3:
        raise ValueError("result too large")
    return value


def word_count(text: str) -> int:
    """Count the words (whitespace-separated) in a text."""
    return len(text.split())


def today() -> str:
    """Today's date as YYYY-MM-DD (local time)."""
    return datetime.date.today().isoformat()


def demo_tools() -> list[Callable[..., Any]]:
    return [calculator, word_count, today]
