"""Output: plain lines for pipes, a live rich tree for terminals."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from recode_graph.cli.heartbeat import Heartbeat

# ---------------------------------------------------------------------------------------------------
# Output: plain lines for pipes, a live rich tree for terminals


def _fmt_args(args: Any) -> str:
    if isinstance(args, dict):
        return ", ".join(f"{k}={v!r}" for k, v in args.items())
    return repr(args)


def event_line(event: dict[str, Any]) -> str | None:
    """One plain line per custom stream event (None for events not worth a line)."""
    from recode_graph.engine.render import short

    kind = event.get("event")
    if kind == "node_added":
        tag = "  [placeholder]" if event.get("placeholder") else ""
        return f"+ {event['id']} (parent {event.get('parent')}) {short(event.get('code', ''), 120)}{tag}"
    if kind == "expanding":
        what = "repairing" if event.get("mode") == "repair" else "writing code for"
        return f"… model {what} node {event['id']}: {short(event.get('call', ''), 100)}"
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


def waited_for(event: dict[str, Any]) -> str | None:
    """What the run waits for after ``event`` (the heartbeat's text), None when the event changes nothing."""
    from recode_graph.engine.render import short

    kind = event.get("event")
    if kind == "expanding":
        what = "repair" if event.get("mode") == "repair" else "code"
        return f"waiting for the model's {what} for node {event.get('id')} ({short(event.get('call', ''), 60)})"
    if kind == "action":
        return f"waiting for {event.get('name')}({short(_fmt_args(event.get('args')), 60)})"
    if kind in ("expanded", "rejected", "failed", "observation"):
        return "running the plan"
    return None


class PlainUI:
    """Line-per-event output (stdout is not a terminal), with a progress line during long waits."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.asked_at: float | None = None  # when the model was last asked (an "expanding" event)
        self.heartbeat: Heartbeat | None = None
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        with self._lock:
            print(text, file=self.out, flush=True)
        if self.heartbeat is not None:
            self.heartbeat.printed()

    def doing(self, what: str) -> None:
        """What the run waits for now (said by the heartbeat when it takes long)."""
        if self.heartbeat is not None:
            self.heartbeat.doing(what)

    @contextmanager
    def alive(self, interval: float) -> Iterator[None]:
        """A progress line after every ``interval`` seconds without output, while inside."""
        self.heartbeat = Heartbeat(self.say, interval, "starting").start()
        try:
            yield
        finally:
            self.heartbeat.stop()
            self.heartbeat = None

    @contextmanager
    def waiting(self, text: str) -> Iterator[None]:
        """Say what the run waits for, then how long it took."""
        started = time.monotonic()
        self.say(f"… {text}")
        self.doing(text.split(" (")[0])
        yield
        self.doing("running")
        self.say(f"  ready after {time.monotonic() - started:.0f} s")

    def timed(self, event: dict[str, Any], line: str) -> str:
        """The line of an event, with the model's time added to the line that ends a model call."""
        if event.get("event") == "expanding":
            self.asked_at = time.monotonic()
        elif event.get("event") in ("expanded", "rejected", "failed") and self.asked_at is not None:
            line, self.asked_at = f"{line} ({time.monotonic() - self.asked_at:.1f} s)", None
        return line

    def begin(self, tree: dict[str, Any]) -> None:
        return None

    def event(self, event: dict[str, Any]) -> None:
        what = waited_for(event)
        if what:
            self.doing(what)
        line = event_line(event)
        if line:
            self.say(self.timed(event, line))

    def end(self) -> None:
        return None

    def request(self, request: dict[str, Any]) -> None:
        action = request["action_requests"][0]
        self.doing("waiting for your answer to the approval above")
        self.say(f"? approval needed: {request_title(action)}")
        for line in request_body(action):
            self.say(f"  {line}")
        if request.get("error"):
            self.say(f"  ! {request['error']}")

    def tree(self, tree: dict[str, Any]) -> None:
        from recode_graph.engine.render import tree_lines

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
        self.status: Waiting | None = None  # what the run waits for now, drawn under the tree

    @contextmanager
    def alive(self, interval: float) -> Iterator[None]:
        yield  # a terminal has the live spinner instead

    @contextmanager
    def waiting(self, text: str) -> Iterator[None]:
        from rich.live import Live

        started = time.monotonic()
        with Live(Waiting(text), console=self.console, refresh_per_second=4, transient=True):
            yield
        self.say(f"{text}: ready after {time.monotonic() - started:.0f} s")

    def _view(self) -> Any:
        from rich.console import Group

        from recode_graph.engine.render import rich_tree

        tree = rich_tree(self.nodes.nodes)
        return Group(tree, self.status) if self.status is not None else tree

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def begin(self, tree: dict[str, Any]) -> None:
        from rich.live import Live

        from recode_graph.engine.render import LiveTree, rich_tree

        self.nodes = LiveTree(tree)
        self.live = Live(rich_tree(self.nodes.nodes), console=self.console, refresh_per_second=8, transient=True,
                         get_renderable=self._view)
        self.live.start()

    def event(self, event: dict[str, Any]) -> None:
        if self.nodes is None or self.live is None:
            return
        self.nodes.apply(event)
        kind = event.get("event")
        if kind == "expanding":
            self.status = Waiting(event_line(event) or "the model is thinking")
        elif kind in ("expanded", "rejected", "failed"):
            self.status = None
        if kind in ("action", "observation", "rejected", "failed") or (kind == "executed" and not event.get("ok")):
            line = event_line(event)
            if line:
                self.console.print(line, markup=False, highlight=False,
                                   style="dim" if line.startswith("<") else None)
        self.live.refresh()

    def end(self) -> None:
        self.status = None
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
        from recode_graph.engine.render import rich_tree

        self.console.print(rich_tree(tree))


class Waiting:
    """A spinner with what the run waits for and the seconds it has waited, updated at every redraw."""

    def __init__(self, text: str) -> None:
        from rich.spinner import Spinner

        self.text = text
        self.started = time.monotonic()
        self.spinner = Spinner("dots", style="cyan")

    def __rich_console__(self, console: Any, options: Any) -> Any:
        self.spinner.update(text=f"{self.text} · {time.monotonic() - self.started:.0f} s")
        yield self.spinner


def request_title(action: dict[str, Any]) -> str:
    args = action.get("args") or {}
    if action.get("name") == "expansion":
        return f"code for node {args.get('node')}: {args.get('call', '')}"
    return f"{action.get('name')}({_fmt_args(args)})"


def request_body(action: dict[str, Any]) -> list[str]:
    from recode_graph.engine.render import short

    args = action.get("args") or {}
    if action.get("name") != "expansion":
        return [short(action["description"], 300)] if action.get("description") else []
    lines = [f"thought: {args['thought']}"] if args.get("thought") else []
    return lines + ["code:"] + [f"  {line}" for line in str(args.get("code", "")).splitlines()]


def make_ui(out: TextIO) -> PlainUI:
    return RichUI(out) if out.isatty() else PlainUI(out)
