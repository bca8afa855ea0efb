"""WebShop HTML pages → text observations and clickable targets (stdlib ``html.parser`` only).

A page becomes a sequence of text chunks and clickables in document order. Clickables are buttons in
forms (target: the form's action, POST), product links (``href``, GET) and option radio buttons (their
``data-url``, GET; the clickable name is the label text). Hidden blocks (``display:none``, ``hidden``),
scripts, styles and the head are skipped. The observation shows clickables as ``[name]``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_SKIP = {"script", "style", "head", "title", "iframe"}
_VOID = {"input", "img", "br", "hr", "link", "meta"}


@dataclass(frozen=True)
class Clickable:
    name: str
    url: str
    method: str  # "GET" or "POST"


@dataclass
class Page:
    """A parsed page: text lines (clickables rendered as [name]), clickables, search box, reward."""

    lines: list[str] = field(default_factory=list)
    clickables: list[Clickable] = field(default_factory=list)
    search_url: str = ""  # form action of the search box ('' when the page has none)
    reward: float | None = None  # from the done page

    @property
    def observation(self) -> str:
        return "\n".join(self.lines)

    def find(self, name: str) -> Clickable | None:
        wanted = _norm(name)
        for clickable in self.clickables:
            if _norm(clickable.name) == wanted:
                return clickable
        return None


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._stack: list[tuple[str, bool]] = []  # (tag, hidden-or-skipped)
        self._form_action = ""
        self._form_has_search = False
        self._button: list[str] | None = None
        self._link: tuple[str, list[str]] | None = None
        self._label: tuple[str, list[str]] | None = None
        self._radio_urls: dict[str, str] = {}
        self._in_reward = False
        self._text: list[str] = []

    @property
    def _hidden(self) -> bool:
        return bool(self._stack) and self._stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        style = a.get("style", "").replace(" ", "").lower()
        hidden = self._hidden or tag in _SKIP or "hidden" in a or "display:none" in style
        if tag not in _VOID:
            self._stack.append((tag, hidden))
        if hidden:
            return
        if tag == "form":
            self._form_action, self._form_has_search = a.get("action", ""), False
        elif tag == "input" and a.get("name") == "search_query":
            self._form_has_search = True
            self.page.search_url = self._form_action
        elif tag == "input" and a.get("type") == "radio" and a.get("data-url"):
            self._radio_urls[a.get("id", "")] = a["data-url"]
        elif tag == "button":
            self._flush()
            self._button = []
        elif tag == "a" and a.get("href"):
            self._flush()
            self._link = (a["href"], [])
        elif tag == "label" and a.get("for") in self._radio_urls:
            self._flush()
            self._label = (self._radio_urls[a["for"]], [])
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6", "p", "div", "li", "tr", "pre"}:
            self._flush()
            if a.get("id") == "reward":
                self._in_reward = True

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        while self._stack:
            top, hidden = self._stack.pop()
            if top == tag:
                break
        else:
            return
        if hidden:
            return
        if tag == "button" and self._button is not None:
            name = " ".join("".join(self._button).split())
            if name and not self._form_has_search:
                self._click(Clickable(name, self._form_action, "POST"))
            self._button = None
        elif tag == "a" and self._link is not None:
            self._click(Clickable(" ".join("".join(self._link[1]).split()), self._link[0], "GET"))
            self._link = None
        elif tag == "label" and self._label is not None:
            self._click(Clickable(" ".join("".join(self._label[1]).split()), self._label[0], "GET"))
            self._label = None
        elif tag == "form":
            self._form_action, self._form_has_search = "", False
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6", "p", "div", "li", "tr", "pre"}:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        sinks = (self._button, self._link[1] if self._link else None, self._label[1] if self._label else None)
        for sink in sinks:
            if sink is not None:
                sink.append(data)
                return
        self._text.append(data)

    def _click(self, clickable: Clickable) -> None:
        if clickable.name:
            self.page.clickables.append(clickable)
            self._text.append(f" [{clickable.name}] ")
            self._flush()

    def _flush(self) -> None:
        text = " ".join(html.unescape("".join(self._text)).split())
        self._text = []
        if not text:
            return
        if self._in_reward:
            found = re.search(r"(-?\d+(?:\.\d+)?)\s*$", text)
            if found:
                self.page.reward = float(found.group(1))
            self._in_reward = self.page.reward is None
        self.page.lines.append(text)

    def close(self) -> None:
        super().close()
        self._flush()


def parse_page(markup: str) -> Page:
    """Parse one WebShop page."""
    parser = _Parser()
    parser.feed(markup)
    parser.close()
    if parser.page.search_url:
        parser.page.lines.append("[search]")
    return parser.page
