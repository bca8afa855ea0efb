"""Output: plain lines for pipes, a live rich tree for terminals."""

from __future__ import annotations

from typing import Any, TextIO

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

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def begin(self, tree: dict[str, Any]) -> None:
        from rich.live import Live

        from recode_graph.engine.render import LiveTree, rich_tree

        self.nodes = LiveTree(tree)
        self.live = Live(rich_tree(self.nodes.nodes), console=self.console, refresh_per_second=8, transient=True)
        self.live.start()

    def event(self, event: dict[str, Any]) -> None:
        from recode_graph.engine.render import rich_tree

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
        from recode_graph.engine.render import rich_tree

        self.console.print(rich_tree(tree))


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
