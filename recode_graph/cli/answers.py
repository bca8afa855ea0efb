"""Terminal input for approvals: answers from a terminal or a pipe, one decision per request."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from recode_graph.cli.common import NoAnswer

# ---------------------------------------------------------------------------------------------------
# Terminal input for approvals


class Answers:
    """Reads approval answers: rich prompts on a terminal, plain lines from a pipe (tests, scripts)."""

    def __init__(self, stream: TextIO, console: Any = None) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.console = console

    def line(self, prompt: str, default: str = "") -> str:
        if self.tty:
            from rich.markup import escape
            from rich.prompt import Prompt

            try:
                return Prompt.ask(escape(prompt), default=default, console=self.console) or ""
            except EOFError:
                raise NoAnswer() from None
        print(f"? {prompt}" + (f" ({default})" if default else "") + ":", flush=True)
        text = self.stream.readline()
        if not text:
            raise NoAnswer()
        return text.rstrip("\n").strip() or default

    def block(self, prompt: str) -> str:
        """Lines until one holding only '.'."""
        print(f"? {prompt} (end with a line holding only '.'):", flush=True)
        lines: list[str] = []
        while True:
            text = input() if self.tty else self.stream.readline()
            if not self.tty and not text:
                raise NoAnswer()
            text = text.rstrip("\n")
            if text.strip() == ".":
                return "\n".join(lines)
            lines.append(text)


def edited_args(action: dict[str, Any], answers: Answers, say: Callable[[str], None]) -> dict[str, Any] | None:
    """New arguments for an edit decision, or None when the answer was unusable."""
    name, args = action.get("name"), action.get("args") or {}
    if name == "expansion":
        code = answers.block("new code for this call")
        return {"code": code} if code.strip() else None
    if name == "run":
        text = answers.line("new action")
        return {"action": text} if text else None
    raw = answers.line(f"new arguments as JSON, e.g. {json.dumps(args)}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        say(f"not JSON: {exc.msg}")
        return None
    if not isinstance(value, dict):
        say("the arguments must be a JSON object")
        return None
    return value


KEYS = {"approve": "a", "edit": "e", "reject": "r", "respond": "s"}
WORDS = {"approve": ("a", "approve", "y", "yes"), "edit": ("e", "edit"), "reject": ("r", "reject", "n", "no"),
         "respond": ("s", "respond")}


def decide(action: dict[str, Any], answers: Answers, say: Callable[[str], None],
           allowed: Sequence[str] = ("approve", "edit", "reject")) -> dict[str, Any]:
    """Ask for one of the ``allowed`` decisions about one action request; returns the decision."""
    offered = [d for d in KEYS if d in allowed] or ["approve"]
    names = ", ".join(offered[:-1]) + (" or " if len(offered) > 1 else "") + offered[-1]
    question = f"{names}? [{'/'.join(KEYS[d] for d in offered)}]"
    while True:
        choice = answers.line(question, default="a" if "approve" in offered else "").lower()
        kind = next((d for d in offered if choice in WORDS[d]), None)
        if kind == "approve":
            return {"type": "approve"}
        if kind == "reject":
            message = answers.line("why? (sent to the model)")
            return {"type": "reject", "message": message or "rejected by the reviewer"}
        if kind == "respond":
            message = answers.line("the result to return instead of running it")
            return {"type": "respond", "message": message}
        if kind == "edit":
            args = edited_args(action, answers, say)
            if args is not None:
                return {"type": "edit", "edited_action": {"name": action.get("name"), "args": args}}
            continue
        say("answer " + ", ".join(f"{KEYS[d]} ({d})" for d in offered))
