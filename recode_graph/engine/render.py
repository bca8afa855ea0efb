"""Pictures of an episode: the expansion tree (plain text, rich, mermaid, graphviz) and the trajectory.

Everything works on the state's ``tree`` (node id → node dict) and ``trajectory`` (list of steps).
``LiveTree`` rebuilds such a tree from the custom stream events while a run is in progress.
PNG files go through graphviz's ``dot`` program when it is installed (``RenderError`` otherwise).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rich.text import Text
from rich.tree import Tree

ROOT = "0"
MARKS = {"pending": "·", "expanded": "▸", "done": "✓", "failed": "✗", "skipped": "–", "error": "!"}
STYLES = {"pending": "dim", "expanded": "cyan", "done": "green", "failed": "red", "skipped": "dim",
          "error": "yellow"}
FILLS = {"pending": "#eeeeee", "expanded": "#d6eaf8", "done": "#d4edda", "failed": "#f8d7da",
         "skipped": "#f5f5f5", "error": "#fff3cd"}
MAX_OUTPUT = 160


class RenderError(RuntimeError):
    """A picture cannot be produced (e.g. graphviz missing); the message is one line."""


def short(value: Any, limit: int = MAX_OUTPUT) -> str:
    """One line, at most ``limit`` characters."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def root_id(tree: Mapping[str, Any]) -> str | None:
    if ROOT in tree:
        return ROOT
    return next((k for k, n in tree.items() if n.get("parent") is None), None)


def walk(tree: Mapping[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(level, node) depth-first in child order."""
    start = root_id(tree)
    stack = [(0, start)] if start is not None else []
    while stack:
        level, node_id = stack.pop()
        node = tree.get(node_id) if node_id is not None else None
        if node is None:
            continue
        yield level, node
        children = [c for c in node.get("children", []) if c in tree]
        stack.extend((level + 1, c) for c in reversed(children))


def _suffix(node: Mapping[str, Any]) -> str:
    parts = []
    if node.get("call") and node.get("id") != ROOT:
        parts.append("placeholder")
    if node.get("mode") == "repair":
        parts.append("repaired")
    return f"  [{', '.join(parts)}]" if parts else ""


def node_lines(node: Mapping[str, Any]) -> list[str]:
    """Header line ``<mark> <id> <first code line>`` then the rest of the code, the thought and error."""
    status = str(node.get("status", "pending"))
    code = str(node.get("code", "")).splitlines() or [""]
    out = [f"{MARKS.get(status, '?')} {node.get('id')} {code[0]}{_suffix(node)}"]
    out.extend(f"    {line}" for line in code[1:])
    if node.get("thought"):
        out.append(f"    # {short(node['thought'])}")
    if node.get("error") and status in ("failed", "error"):
        out.append(f"    ! {short(node['error'])}")
    return out


def tree_lines(tree: Mapping[str, Any]) -> list[str]:
    """The tree as indented plain text (for pipes and logs)."""
    lines: list[str] = []
    for level, node in walk(tree):
        pad = "  " * level
        lines.extend(pad + line for line in node_lines(node))
    return lines


def rich_tree(tree: Mapping[str, Any], title: str = "expansion tree") -> Tree:
    """The tree as a ``rich`` Tree (colors by node status)."""
    top = Tree(Text(title, style="bold"))
    handles: dict[str, Tree] = {}
    for _level, node in walk(tree):
        lines = node_lines(node)
        label = Text(lines[0], style=STYLES.get(str(node.get("status", "pending")), ""))
        for extra in lines[1:]:
            label.append("\n" + extra[4:], style="dim" if extra.lstrip().startswith(("#", "!")) else "")
        parent = handles.get(str(node.get("parent"))) if node.get("parent") is not None else None
        handles[str(node["id"])] = (parent or top).add(label)
    return top


def trajectory_lines(trajectory: list[Mapping[str, Any]]) -> list[str]:
    """``n. [node] name(args) -> output`` per primitive call."""
    lines = []
    for i, step in enumerate(trajectory, 1):
        args = step.get("args")
        shown = ", ".join(f"{k}={v!r}" for k, v in args.items()) if isinstance(args, dict) else repr(args)
        line = f"{i}. [{step.get('node')}] {step.get('name')}({short(shown)})"
        if step.get("output") is not None:
            line += f" -> {short(step['output'])}"
        lines.append(line)
    return lines


def _mermaid_text(text: str) -> str:
    lines = [short(line, 90) for line in text.splitlines()[:8]] or [""]
    escaped = "<br/>".join(lines)
    for old, new in (("#", "#35;"), ('"', "#quot;"), ("<br/>", "\0"), ("<", "#lt;"), (">", "#gt;"),
                     ("\0", "<br/>")):
        escaped = escaped.replace(old, new)
    return escaped


def mermaid(tree: Mapping[str, Any]) -> str:
    """A mermaid flowchart of the tree (paste into any mermaid renderer)."""
    out = ["flowchart TD"]
    for _level, node in walk(tree):
        label = f"{node.get('id')}: {node.get('code', '')}{_suffix(node)}"
        out.append(f'    n{node["id"]}["{_mermaid_text(label)}"]:::{node.get("status", "pending")}')
    for _level, node in walk(tree):
        out.extend(f"    n{node['id']} --> n{child}" for child in node.get("children", []) if child in tree)
    out.extend(f"    classDef {status} fill:{fill},stroke:#555" for status, fill in FILLS.items())
    return "\n".join(out) + "\n"


def _clip(line: str, limit: int) -> str:
    """``short`` that keeps the line's indentation (code in diagrams)."""
    body = line.lstrip()
    return line[: len(line) - len(body)] + short(body, limit)


def _dot_label(text: str) -> str:
    lines = [_clip(line, 90) for line in text.splitlines()[:12]] or [""]
    return "".join(line.replace("\\", "\\\\").replace('"', '\\"') + "\\l" for line in lines)


def tree_dot(tree: Mapping[str, Any]) -> str:
    """The tree in graphviz DOT."""
    out = ["digraph recode {", '  node [shape=box, style="rounded,filled", fontname="monospace", fontsize=10];']
    for _level, node in walk(tree):
        status = str(node.get("status", "pending"))
        label = _dot_label(f"{node.get('id')}: {node.get('code', '')}{_suffix(node)}")
        out.append(f'  n{node["id"]} [label="{label}", fillcolor="{FILLS.get(status, "#ffffff")}"];')
    for _level, node in walk(tree):
        out.extend(f"  n{node['id']} -> n{child};" for child in node.get("children", []) if child in tree)
    out.append("}")
    return "\n".join(out) + "\n"


def graph_dot(drawable: Any) -> str:
    """DOT for a LangGraph drawable graph (``compiled.get_graph()``); conditional edges are dashed."""
    out = ["digraph langgraph {",
           '  node [shape=box, style="rounded,filled", fillcolor="#f2f0ff", fontname="Helvetica"];']
    for node_id in drawable.nodes:
        shape = ", shape=oval, fillcolor=\"#dddddd\"" if node_id.startswith("__") else ""
        out.append(f'  "{node_id}" [label="{node_id.strip("_")}"{shape}];')
    for edge in drawable.edges:
        style = ' [style="dashed"]' if edge.conditional else ""
        out.append(f'  "{edge.source}" -> "{edge.target}"{style};')
    out.append("}")
    return "\n".join(out) + "\n"


def write_png(dot_text: str, path: str | Path) -> Path:
    """Render DOT to a PNG file with graphviz ``dot``; ``RenderError`` when dot is missing or fails."""
    exe = shutil.which("dot")
    if exe is None:
        raise RenderError("graphviz 'dot' is not installed (e.g. apt-get install graphviz)")
    target = Path(path).expanduser()
    try:
        done = subprocess.run([exe, "-Tpng", "-o", str(target)], input=dot_text, text=True,
                              capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"graphviz dot failed: {exc}") from None
    if done.returncode != 0:
        raise RenderError(f"graphviz dot failed: {short(done.stderr or done.returncode)}")
    return target


class LiveTree:
    """A tree dict in the state's format, grown from ``stream_mode="custom"`` events."""

    def __init__(self, tree: Mapping[str, Any] | None = None) -> None:
        self.nodes: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (tree or {}).items()}

    def apply(self, event: Mapping[str, Any]) -> None:
        kind = event.get("event")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event)

    def _node(self, node_id: Any) -> dict[str, Any]:
        return self.nodes.setdefault(str(node_id), {"id": str(node_id), "children": [], "status": "pending"})

    def _on_node_added(self, event: Mapping[str, Any]) -> None:
        node = self._node(event["id"])
        parent = event.get("parent")
        node.update(parent=parent, code=event.get("code", ""), depth=event.get("depth", 0), status="pending",
                    call="placeholder" if event.get("placeholder") or parent is None else "")
        if parent is not None:
            siblings = self._node(parent).setdefault("children", [])
            if node["id"] not in siblings:
                siblings.append(node["id"])

    def _on_expanded(self, event: Mapping[str, Any]) -> None:
        node = self._node(event["id"])
        node.update(status="expanded", mode=event.get("mode", ""), thought=event.get("thought", ""))
        children = node.setdefault("children", [])
        children.extend(str(c) for c in event.get("children", []) if str(c) not in children)

    def _on_executed(self, event: Mapping[str, Any]) -> None:
        node = self._node(event["id"])
        if event.get("ok"):
            node.update(status="done", error="")
        else:
            node.update(status="error", error=str(event.get("error", "")))

    def _on_failed(self, event: Mapping[str, Any]) -> None:
        self._node(event["id"]).update(status="failed", error=str(event.get("reason", "")))
