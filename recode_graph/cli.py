"""``recode``: run, resume and inspect ReCode episodes from the terminal.

Subcommands: ``run`` (one episode on an environment task or a free instruction), ``resume THREAD``
(continue an interrupted or crashed episode), ``show THREAD`` (tree and trajectory; mermaid or PNG),
``graph`` (the LangGraph graph itself), and ``bench`` / ``export-sft`` (forwarded to their modules).

Exit codes: 0 the episode succeeded (or the command did its job), 1 the episode failed or stopped on an
error (the thread stays resumable), 2 bad input, configuration or missing data (nothing was written),
3 an approval was left unanswered (end of input; resume later), 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import importlib
import json
import math
import operator
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, TextIO

from recode_graph import datacmd

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_WAITING, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
ENVIRONMENTS = ("alfworld", "sciworld", "webshop", "twx")
FORWARDED = {"bench": "recode_graph.bench.harness", "export-sft": "recode_graph.sft"}


class CliError(Exception):
    """A one-line message for stderr and the exit code that goes with it."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(" ".join(str(message).split()))
        self.code = code


class NoAnswer(Exception):
    """Standard input ended while an approval was pending."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise CliError(f"{message} (see {self.prog} --help)")


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


# ---------------------------------------------------------------------------------------------------
# Output: plain lines for pipes, a live rich tree for terminals


def _fmt_args(args: Any) -> str:
    if isinstance(args, dict):
        return ", ".join(f"{k}={v!r}" for k, v in args.items())
    return repr(args)


def event_line(event: dict[str, Any]) -> str | None:
    """One plain line per custom stream event (None for events not worth a line)."""
    from recode_graph.render import short

    kind = event.get("event")
    if kind == "node_added":
        tag = "  [placeholder]" if event.get("placeholder") else ""
        return f"+ {event['id']} (parent {event.get('parent')}) {short(event.get('code', ''), 120)}{tag}"
    if kind == "expanded":
        return f"* {event['id']} expanded ({event.get('mode')}): {short(event.get('thought', ''), 120)}"
    if kind == "executed" and not event.get("ok"):
        return f"! {event['id']} error: {short(event.get('error', ''))}"
    if kind == "action":
        return f"> {event.get('node')} {event.get('name')}({short(_fmt_args(event.get('args')))})"
    if kind == "observation":
        return f"< {event.get('node')} {short(event.get('output'))}"
    if kind == "rejected":
        return f"x {event.get('id')} answer rejected: {short(event.get('hint', ''))}"
    if kind == "failed":
        return f"x {event.get('id')} failed: {short(event.get('reason', ''))}"
    return None


class PlainUI:
    """Line-per-event output (stdout is not a terminal)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def begin(self, tree: dict[str, Any]) -> None:
        return None

    def event(self, event: dict[str, Any]) -> None:
        line = event_line(event)
        if line:
            self.say(line)

    def end(self) -> None:
        return None

    def request(self, request: dict[str, Any]) -> None:
        action = request["action_requests"][0]
        self.say(f"? approval needed: {request_title(action)}")
        for line in request_body(action):
            self.say(f"  {line}")
        if request.get("error"):
            self.say(f"  ! {request['error']}")

    def tree(self, tree: dict[str, Any]) -> None:
        from recode_graph.render import tree_lines

        for line in tree_lines(tree):
            self.say(line)


class RichUI(PlainUI):
    """The tree redrawn live as it grows; actions and observations scroll above it."""

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console

        super().__init__(out)
        self.console = Console(file=out)
        self.live: Any = None
        self.nodes: Any = None

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def begin(self, tree: dict[str, Any]) -> None:
        from rich.live import Live

        from recode_graph.render import LiveTree, rich_tree

        self.nodes = LiveTree(tree)
        self.live = Live(rich_tree(self.nodes.nodes), console=self.console, refresh_per_second=8, transient=True)
        self.live.start()

    def event(self, event: dict[str, Any]) -> None:
        from recode_graph.render import rich_tree

        if self.nodes is None or self.live is None:
            return
        self.nodes.apply(event)
        if event.get("event") in ("action", "observation", "rejected", "failed") or (
                event.get("event") == "executed" and not event.get("ok")):
            line = event_line(event)
            if line:
                self.console.print(line, markup=False, highlight=False,
                                   style="dim" if line.startswith("<") else None)
        self.live.update(rich_tree(self.nodes.nodes))

    def end(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def request(self, request: dict[str, Any]) -> None:
        from rich.panel import Panel
        from rich.syntax import Syntax

        action = request["action_requests"][0]
        body: Any = "\n".join(request_body(action))
        if action.get("name") == "expansion":
            args = action.get("args") or {}
            body = Syntax(str(args.get("code", "")), "python", theme="ansi_dark", line_numbers=False)
            if args.get("thought"):
                self.console.print(f"thought: {args['thought']}", style="italic", markup=False)
        self.console.print(Panel(body, title=request_title(action), border_style="yellow"))
        if request.get("error"):
            self.console.print(f"! {request['error']}", style="red", markup=False)

    def tree(self, tree: dict[str, Any]) -> None:
        from recode_graph.render import rich_tree

        self.console.print(rich_tree(tree))


def request_title(action: dict[str, Any]) -> str:
    args = action.get("args") or {}
    if action.get("name") == "expansion":
        return f"code for node {args.get('node')}: {args.get('call', '')}"
    return f"{action.get('name')}({_fmt_args(args)})"


def request_body(action: dict[str, Any]) -> list[str]:
    from recode_graph.render import short

    args = action.get("args") or {}
    if action.get("name") != "expansion":
        return [short(action["description"], 300)] if action.get("description") else []
    lines = [f"thought: {args['thought']}"] if args.get("thought") else []
    return lines + ["code:"] + [f"  {line}" for line in str(args.get("code", "")).splitlines()]


def make_ui(out: TextIO) -> PlainUI:
    return RichUI(out) if out.isatty() else PlainUI(out)


# ---------------------------------------------------------------------------------------------------
# Building the graph from run settings (the same for run and resume)


def load_env(settings: dict[str, Any], stack: ExitStack) -> Any:
    """The environment adapter named in ``settings`` (closed with ``stack``), or None."""
    name = settings.get("env") or ""
    if not name:
        return None
    from recode_graph.tools import load_environment
    from recode_graph.tools.base import EnvError

    options = {"split": settings["split"]} if settings.get("split") else {}
    try:
        env = load_environment(name, **options)
    except EnvError as exc:
        raise CliError(str(exc)) from None
    except (TypeError, ValueError, OSError) as exc:
        raise CliError(f"{name}: cannot start the environment: {exc}") from None
    stack.callback(env.close)
    return env


def reset_task(env: Any, task: str) -> Any:
    """Validate ``task`` (id or index) by resetting to it; returns the adapter's ``Reset``."""
    from recode_graph.tools.base import EnvError

    try:
        return env.reset(int(task) if task.isdigit() else task)
    except EnvError as exc:
        raise CliError(str(exc)) from None
    except (KeyError, IndexError, ValueError, OSError) as exc:
        raise CliError(f"{env.name}: cannot start task {task!r}: {exc}") from None


def load_model(spec: str) -> Any:
    from recode_graph.models import ModelError, resolve_model

    try:
        return resolve_model(spec)
    except ModelError as exc:
        raise CliError(f"no usable model: {exc}") from None


@contextmanager
def checkpointer(db: str | None, postgres: str | None, *, create: bool = True) -> Iterator[Any]:
    from recode_graph.storage import StorageError, open_checkpointer

    try:
        with open_checkpointer(db, postgres, create=create) as saver:
            yield saver
    except StorageError as exc:
        raise CliError(str(exc)) from None


def build_agent(settings: dict[str, Any], model: Any, env: Any, saver: Any) -> Any:
    from recode_graph import create_recode_agent

    tools = demo_tools() if settings.get("tools") == "demo" else []
    try:
        return create_recode_agent(model, tools=tools, environment=env, checkpointer=saver,
                                   max_depth=int(settings.get("max_depth", 10)),
                                   approve=settings.get("approve") or None)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def run_config(thread: str, settings: dict[str, Any]) -> dict[str, Any]:
    from recode_graph.storage import run_metadata

    return {"configurable": {"thread_id": thread}, "metadata": run_metadata(settings)}


# ---------------------------------------------------------------------------------------------------
# Driving an episode: stream, answer approvals, report


@contextmanager
def resumable(thread: str) -> Iterator[None]:
    """Turn errors raised inside the graph into one line that says how to continue."""
    try:
        yield
    except (CliError, NoAnswer, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure inside a node: the thread stays resumable
        from recode_graph.render import short

        text = short(f"{type(exc).__name__}: {exc}", 300)
        raise CliError(f"the run stopped: {text}; continue with `recode resume {thread}`", EXIT_FAILED) from None


def stream_segment(graph: Any, payload: Any, config: dict[str, Any], ui: PlainUI) -> Any:
    """Run until the graph ends or waits for a person; returns the state snapshot."""
    tree = graph.get_state(config).values.get("tree") or {}
    ui.begin(tree)
    try:
        for event in graph.stream(payload, config, stream_mode="custom"):
            if isinstance(event, dict):
                ui.event(event)
    finally:
        ui.end()
    return graph.get_state(config)


def resume_value(interrupts: Sequence[Any], ui: PlainUI, answers: Answers) -> Any:
    """Ask a person about each pending interrupt; the value for ``Command(resume=...)``."""
    values: dict[str, Any] = {}
    for item in interrupts:
        request = item.value if isinstance(item.value, dict) else {}
        actions = request.get("action_requests") or []
        if not actions:
            raise CliError(f"the run waits for an input this CLI does not know: {item.value!r}", EXIT_FAILED)
        ui.request(request)
        allowed = ((request.get("review_configs") or [{}])[0].get("allowed_decisions")
                   or ["approve", "edit", "reject"])
        values[item.id] = {"decisions": [decide(actions[0], answers, ui.say, allowed)]}
    return next(iter(values.values())) if len(values) == 1 else values


def drive(graph: Any, config: dict[str, Any], payload: Any, ui: PlainUI, answers: Answers,
          pending: Sequence[Any] = ()) -> Any:
    """Stream the episode to its end, asking for approvals on the way (first the ``pending`` interrupts
    of a resumed thread); returns the final snapshot."""
    from langgraph.types import Command

    thread = config["configurable"]["thread_id"]
    interrupts = pending
    while True:
        if interrupts:
            try:
                payload = Command(resume=resume_value(interrupts, ui, answers))
            except NoAnswer:
                raise CliError(f"no answer for the pending approval (end of input); the thread waits: "
                               f"`recode resume {thread}`", EXIT_WAITING) from None
        with resumable(thread):
            snapshot = stream_segment(graph, payload, config, ui)
        if not snapshot.interrupts:
            return snapshot
        interrupts = snapshot.interrupts


def summary_line(values: dict[str, Any], seconds: float) -> str:
    from recode_graph.tree import stats

    usage = values.get("usage") or {}
    shape = stats(values.get("tree") or {})
    parts = [str(values.get("status", "unknown")), f"score {values.get('score')}",
             f"{usage.get('calls', 0)} model calls",
             f"tokens {usage.get('input_tokens', 0)} in / {usage.get('output_tokens', 0)} out "
             f"({usage.get('cached_tokens', 0)} cached)",
             f"{shape['nodes']} nodes, depth {shape['depth']}",
             f"{len(values.get('trajectory') or [])} primitive calls", f"{seconds:.1f} s"]
    return " · ".join(parts)


def report(snapshot: Any, ui: PlainUI, seconds: float, thread: str) -> int:
    values = snapshot.values or {}
    if isinstance(ui, RichUI) and values.get("tree"):
        ui.tree(values["tree"])
    if values.get("answer"):
        ui.say(f"answer: {values['answer']}")
    if values.get("reason"):
        ui.say(f"reason: {values['reason']}")
    ui.say(f"result: {summary_line(values, seconds)}")
    ui.say(f"thread: {thread}")
    return EXIT_OK if values.get("status") == "success" else EXIT_FAILED


# ---------------------------------------------------------------------------------------------------
# Subcommands


def run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Validate the flag combination of ``recode run``; the settings stored with the thread."""
    from recode_graph.models import default_spec

    if args.env and args.instruction is not None:
        raise CliError("use --env (with --task) or --instruction, not both")
    if not args.env and args.instruction is None:
        raise CliError("recode run needs --env ENV (with --task) or --instruction TEXT")
    if not args.env and (args.split or args.task is not None):
        raise CliError("--split and --task need --env")
    if args.instruction is not None and not args.instruction.strip():
        raise CliError("--instruction is empty")
    if args.max_depth < 1:
        raise CliError("--max-depth must be at least 1")
    if args.db and args.postgres:
        raise CliError("use either --db or --postgres, not both")
    if args.env and args.env not in ENVIRONMENTS:
        raise CliError(f"unknown environment {args.env!r}; available: {', '.join(ENVIRONMENTS)}")
    if args.approve:
        from recode_graph.approval_policy import parse_approve

        try:
            parse_approve(args.approve, [] if args.env else [f.__name__ for f in demo_tools()])
        except ValueError as exc:
            raise CliError(f"--approve: {exc}") from None
    return {"env": args.env or "", "split": args.split or "", "task": args.task if args.task is not None else "0",
            "instruction": args.instruction or "", "model": args.model or default_spec(),
            "approve": args.approve or "", "max_depth": args.max_depth, "tools": "env" if args.env else "demo"}


def cmd_run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    settings = run_settings(args)
    ui = make_ui(sys.stdout)
    with ExitStack() as stack:
        env = load_env(settings, stack)
        payload: dict[str, Any] = {"instruction": settings["instruction"]}
        if env is not None:
            reset = reset_task(env, settings["task"])
            settings["task"] = reset.task_id
            payload = {"task_id": reset.task_id}
        model = load_model(settings["model"])
        saver = stack.enter_context(checkpointer(args.db, args.postgres))
        thread = args.thread or f"{settings['env'] or 'task'}-{uuid.uuid4().hex[:10]}"
        from recode_graph.storage import latest

        if latest(saver, thread) is not None:
            raise CliError(f"thread {thread!r} already exists; continue it with `recode resume {thread}`")
        graph = build_agent(settings, model, env, saver)
        if env is not None:
            if getattr(env, "data_note", None):
                ui.say(f"note: {env.data_note}")
            ui.say(f"task: {settings['task']}")
        ui.say(f"thread: {thread}")
        answers = Answers(sys.stdin, getattr(ui, "console", None))
        snapshot = drive(graph, run_config(thread, settings), payload, ui, answers)
        return report(snapshot, ui, time.monotonic() - started, thread)


def cmd_resume(args: argparse.Namespace) -> int:
    from recode_graph.storage import StorageError
    from recode_graph.storage import run_settings as stored_settings

    started = time.monotonic()
    ui = make_ui(sys.stdout)
    with ExitStack() as stack:
        saver = stack.enter_context(checkpointer(args.db, args.postgres, create=False))
        try:
            settings = stored_settings(saver, args.thread)
        except StorageError as exc:
            raise CliError(str(exc)) from None
        if not settings:
            raise CliError(f"thread {args.thread!r} was not started by `recode run` (no run settings stored)")
        if args.model:
            settings["model"] = args.model
        env = load_env(settings, stack)
        graph = build_agent(settings, load_model(settings["model"]), env, saver)
        config = run_config(args.thread, settings)
        snapshot = graph.get_state(config)
        ui.say(f"thread: {args.thread}")
        if snapshot.next:
            answers = Answers(sys.stdin, getattr(ui, "console", None))
            snapshot = drive(graph, config, None, ui, answers, pending=snapshot.interrupts)
        else:
            ui.say("the episode had already finished")
        return report(snapshot, ui, time.monotonic() - started, args.thread)


def thread_state(saver: Any, thread: str) -> Any:
    from recode_graph import create_recode_agent
    from recode_graph.storage import latest, thread_config

    if latest(saver, thread) is None:
        raise CliError(f"unknown thread {thread!r}")
    return create_recode_agent(None, checkpointer=saver).get_state(thread_config(thread))


def show_json(thread: str, snapshot: Any) -> str:
    values = snapshot.values or {}
    keys = ("status", "reason", "answer", "score", "task_id", "task_type", "instruction", "usage", "tree",
            "trajectory")
    out = {"thread": thread, **{k: values.get(k) for k in keys}, "next": list(snapshot.next),
           "interrupts": [i.value for i in snapshot.interrupts]}
    return json.dumps(out, indent=1, default=str)


def show_text(thread: str, snapshot: Any, out: TextIO) -> None:
    from recode_graph.render import rich_tree, short, trajectory_lines, tree_lines

    values = snapshot.values or {}
    header = [f"thread: {thread}", f"task: {values.get('task_id') or '-'}",
              f"instruction: {short(values.get('instruction', ''), 300)}",
              f"status: {values.get('status')}  score: {values.get('score')}  reason: {values.get('reason') or '-'}"]
    if values.get("answer"):
        header.append(f"answer: {values['answer']}")
    if snapshot.next:
        header.append(f"waiting: {', '.join(snapshot.next)}"
                      + (" (an approval is pending)" if snapshot.interrupts else "") + f"; `recode resume {thread}`")
    lines = header + [""]
    if out.isatty():
        from rich.console import Console

        console = Console(file=out)
        for line in lines:
            console.print(line, markup=False, highlight=False)
        console.print(rich_tree(values.get("tree") or {}))
    else:
        print("\n".join(lines + tree_lines(values.get("tree") or {})), file=out)
    print("\ntrajectory:", file=out)
    print("\n".join(trajectory_lines(values.get("trajectory") or [])) or "(no primitive calls)", file=out)


def write_png(dot_text: str, path: str) -> None:
    from recode_graph.render import RenderError
    from recode_graph.render import write_png as render_png

    try:
        target = render_png(dot_text, path)
    except RenderError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {target}")


def cmd_show(args: argparse.Namespace) -> int:
    from recode_graph.render import mermaid, tree_dot

    with checkpointer(args.db, args.postgres, create=False) as saver:
        snapshot = thread_state(saver, args.thread)
    tree = (snapshot.values or {}).get("tree") or {}
    if args.png:
        write_png(tree_dot(tree), args.png)
    elif args.mermaid:
        sys.stdout.write(mermaid(tree))
    elif args.json:
        print(show_json(args.thread, snapshot))
    else:
        show_text(args.thread, snapshot, sys.stdout)
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    from recode_graph import create_recode_agent
    from recode_graph.render import graph_dot

    drawable = create_recode_agent(None).get_graph()
    if args.png:
        write_png(graph_dot(drawable), args.png)
    else:
        sys.stdout.write(drawable.draw_mermaid())
    return EXIT_OK


def cmd_data(args: argparse.Namespace) -> int:
    try:
        return datacmd.run(args)
    except datacmd.DataCommandError as exc:
        raise CliError(str(exc)) from None


def forward(command: str, argv: list[str]) -> int:
    """``recode bench ...`` / ``recode export-sft ...``: hand the rest of the line to the module's main."""
    module_name = FORWARDED[command]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise CliError(f"`recode {command}` is not available: module {module_name} is not installed") from None
        raise CliError(f"`recode {command}` cannot load {module_name}: {exc}") from None
    entry = getattr(module, "main", None)
    if not callable(entry):
        raise CliError(f"`recode {command}`: {module_name} has no main(argv) function")
    result = entry(argv)
    return int(result) if isinstance(result, int) else EXIT_OK


# ---------------------------------------------------------------------------------------------------
# Argument parsing


def _store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="FILE", help="SQLite file of threads (default: $RECODE_DATA_HOME or "
                        "~/.local/share/recode-graph/threads.sqlite)")
    parser.add_argument("--postgres", metavar="URL", help="store threads in Postgres instead "
                        "(postgresql://user@host:5432/db)")


def _run_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="run one episode", description="Run one ReCode episode: an environment "
                         "task (--env, --split, --task) or a free --instruction with built-in demo tools.")
    run.add_argument("--env", help=f"environment: {', '.join(ENVIRONMENTS)}")
    run.add_argument("--split", help="task split of the environment (e.g. seen, unseen)")
    run.add_argument("--task", help="task id or index in the split (default: 0)")
    run.add_argument("--instruction", help="a free instruction (no environment; demo tools calculator, "
                     "word_count, today)")
    run.add_argument("--model", help="model spec: 'local', 'openai:gpt-4o-mini', 'scripted:<fixture>', "
                     "'module:attr' (default: $RECODE_MODEL, else OpenAI when OPENAI_API_KEY is set, else local)")
    run.add_argument("--approve", metavar="WHAT", help="ask a person first: expansions, actions, all, tool names "
                     "(comma-separated, may include expansions), or an interrupt_on JSON object "
                     "'{\"calculator\": {\"allowed_decisions\": [\"approve\", \"reject\"]}}'")
    run.add_argument("--max-depth", type=int, default=10, help="depth limit of the expansion tree (default 10)")
    run.add_argument("--thread", help="thread id (default: generated and printed)")
    _store_args(run)
    run.set_defaults(handler=cmd_run)


def build_parser() -> Parser:
    parser = Parser(prog="recode", description="ReCode agent (recursive code generation) on LangGraph.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run_parser(sub)
    resume = sub.add_parser("resume", help="continue an interrupted or crashed episode")
    resume.add_argument("thread")
    resume.add_argument("--model", help="use another model for the rest of the episode")
    _store_args(resume)
    resume.set_defaults(handler=cmd_resume)
    show = sub.add_parser("show", help="show a thread's expansion tree and trajectory")
    show.add_argument("thread")
    formats = show.add_mutually_exclusive_group()
    formats.add_argument("--mermaid", action="store_true", help="print the tree as a mermaid flowchart")
    formats.add_argument("--png", metavar="FILE", help="draw the tree to a PNG file (needs graphviz 'dot')")
    formats.add_argument("--json", action="store_true", help="print the state (tree, trajectory, usage) as JSON")
    _store_args(show)
    show.set_defaults(handler=cmd_show)
    graph = sub.add_parser("graph", help="draw the LangGraph graph (mermaid text, or --png via graphviz)")
    graph.add_argument("--png", metavar="FILE", help="write a PNG (needs graphviz 'dot')")
    graph.set_defaults(handler=cmd_graph)
    datacmd.add_parser(sub, cmd_data)
    for name, module in FORWARDED.items():
        sub.add_parser(name, help=f"forwarded to {module}.main (see recode {name} --help)", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] in FORWARDED:
            return forward(args_list[0], args_list[1:])
        args = build_parser().parse_args(args_list)
        return int(args.handler(args))
    except CliError as exc:
        sys.stdout.flush()
        print(f"recode: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("recode: interrupted; a started thread can be continued with `recode resume THREAD`",
              file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
