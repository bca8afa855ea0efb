"""WebShop adapter: a client for a user-run WebShop web server (the WebShop project's Flask app).

WebShop's product catalogue, search index and grading model cannot be obtained here, so this adapter does
not start anything: it speaks HTTP to a server you run yourself.

Setup (on a machine with internet access), following the WebShop project's README::

    git clone https://github.com/princeton-nlp/WebShop && cd WebShop
    ./setup.sh -d all            # downloads the products, builds the search index, installs spaCy models
    ./run_dev.sh                 # or: python -m web_agent_site.app  (serves http://localhost:3000)

then point the adapter at it: ``load_environment("webshop", url="http://localhost:3000")`` (or set
``WEBSHOP_URL``). Task ids are goal indices: the server maps session ``fixed_<i>`` to goal ``i`` of its
(fixed-seed shuffled) goal list. ``list_tasks("test")`` = goals 0–499 (the 500-goal test split used by
ReAct and the ReCode paper), ``"dev"`` = 500–1499, ``"train"`` = 1500–12086 (full data set).

Actions: ``search[<query>]`` on a page with a search box, ``click[<name>]`` for any ``[name]`` shown in the
observation (product ids, options, Description / Features / Reviews, < Prev, Next >, Back to Search,
Buy Now). ``click[Buy Now]`` ends the episode; its page carries the reward (score 0–1; won when 1.0).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request

from recode_graph.tools.adapter import BaseAdapter, Outcome
from recode_graph.tools.base import EnvError, PromptResources, Reset
from recode_graph.tools.prompting import prompt_text
from recode_graph.tools.webshop_page import Page, parse_page

SPLITS = {"test": (0, 500), "dev": (500, 1500), "train": (1500, 12087)}
DEFAULT_URL = "http://localhost:3000"
STEP_LIMIT = 15


def parse_action(action: str) -> tuple[str, str] | None:
    """('search', query) / ('click', name) from 'search[...]' / 'click[...]'; None when malformed."""
    text = action.strip()
    for verb in ("search", "click"):
        if text.lower().startswith(verb + "[") and text.endswith("]"):
            return verb, text[len(verb) + 1 : -1].strip()
    return None


def instruction_of(page: Page) -> str:
    for line in page.lines:
        if line.lower().startswith("instruction:"):
            return line.split(":", 1)[1].strip()
    return ""


class WebShop(BaseAdapter):
    """WebShop over HTTP; deterministic for a goal index as long as the server's data does not change."""

    name = "webshop"
    default_step_limit = STEP_LIMIT

    def __init__(self, url: str | None = None, split: str = "test", step_limit: int | None = None,
                 timeout: float = 30.0, grounding: str = "off") -> None:
        super().__init__(step_limit=step_limit, url=url, split=split, timeout=timeout, grounding=grounding)
        if split not in SPLITS:
            raise EnvError(f"webshop: unknown split {split!r} (split= one of: {', '.join(SPLITS)})")
        self._base = (url or os.environ.get("WEBSHOP_URL") or DEFAULT_URL).rstrip("/")
        self._split = split
        self._timeout = timeout
        self._page = Page()

    def list_tasks(self, split: str | None = None) -> list[str]:
        split = split or self._split
        if split not in SPLITS:
            raise EnvError(f"webshop: unknown split {split!r} (one of: {', '.join(SPLITS)})")
        start, stop = SPLITS[split]
        return [str(i) for i in range(start, stop)]

    # -- HTTP ----------------------------------------------------------------------------------------
    def _fetch(self, path: str, method: str = "GET", form: dict[str, str] | None = None) -> Page:
        url = urllib.parse.urljoin(self._base + "/", path)
        url = urllib.parse.quote(url, safe=":/%?&=+,;@")
        data = urllib.parse.urlencode(form or {}).encode() if method == "POST" else None
        request = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                markup = response.read().decode("utf-8", errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            message = f"webshop: server {self._base} not reachable ({exc}); set url= or WEBSHOP_URL"
            raise EnvError(message) from exc
        return parse_page(markup)

    # -- episode -------------------------------------------------------------------------------------
    def _start(self, task_id: str | int) -> Reset:
        if not str(task_id).isdigit():
            raise EnvError(f"webshop: unknown task id {task_id!r} (a goal index, e.g. '0'..'499' for test)")
        index = int(task_id)
        self._page = self._fetch(f"/fixed_{index}")
        return Reset(task_id=str(index), instruction=instruction_of(self._page),
                     observation=self._page.observation, task_type="shop")

    def _act(self, action: str) -> Outcome:
        parsed = parse_action(action)
        if parsed is None:
            return Outcome("Invalid action: use search[<query>] or click[<name shown in [brackets]>].",
                           False, False, 0.0)
        verb, arg = parsed
        if verb == "search":
            if not self._page.search_url:
                return Outcome("Invalid action: there is no search box on this page "
                               "(click[Back to Search] first).", False, False, 0.0)
            self._page = self._fetch(self._page.search_url, "POST", {"search_query": arg})
        else:
            target = self._page.find(arg)
            if target is None:
                return Outcome(f"Invalid action: nothing named [{arg}] to click on this page.",
                               False, False, 0.0)
            self._page = self._fetch(target.url, target.method)
        reward = self._page.reward
        if reward is not None:
            return Outcome(self._page.observation, True, reward >= 1.0, reward)
        return Outcome(self._page.observation, False, False, 0.0)

    @property
    def page(self) -> Page:
        """The current parsed page."""
        return self._page

    def prompt_resources(self, task_type: str = "") -> PromptResources:
        return PromptResources(actions=prompt_text("webshop_actions"),
                               examples=prompt_text("webshop_examples"))
