"""WebShop adapter against recorded pages served by a tiny local HTTP server (no WebShop data needed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote

import pytest
from recode_graph.tools import load_environment
from recode_graph.tools.base import EnvError
from recode_graph.tools.webshop import WebShop, parse_action
from recode_graph.tools.webshop_page import parse_page

PAGES = Path(__file__).parent / "data" / "webshop"
ROUTES = [("/search_results/", "results"), ("/item_sub_page/", "features"), ("/item_page/", "item"),
          ("/done/", "done"), ("/fixed_", "start")]


class Recorded(BaseHTTPRequestHandler):
    """Serves the recorded page for a route; a search POST redirects to the results page like WebShop."""

    searches: list[str] = []

    def _page(self) -> None:
        name = next(page for prefix, page in ROUTES if self.path.startswith(prefix))
        body = (PAGES / f"{name}.html").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self._page()

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        if "search_query" in form:
            self.searches.append(form["search_query"][0])
            self.send_response(302)
            words = form["search_query"][0].lower().split(" ")
            location = f"/search_results/{unquote(self.path[1:])}/{words}/1"
            self.send_header("Location", location.replace(" ", "%20"))
            self.end_headers()
            return
        self._page()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorded)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_parse_pages() -> None:
    start = parse_page((PAGES / "start.html").read_text())
    assert start.search_url == "/fixed_7" and start.observation.endswith("[search]")
    assert "Search" not in [c.name for c in start.clickables]
    results = parse_page((PAGES / "results.html").read_text())
    assert [c.name for c in results.clickables] == ["Back to Search", "B07MUG0001", "B07MUG0002"]
    assert "Stoneware Tea Mug, Blue & White, 12 oz" in results.lines
    assert "B0HIDDEN00" not in results.observation
    item = parse_page((PAGES / "item.html").read_text())
    names = [c.name for c in item.clickables]
    assert names == ["Back to Search", "< Back to Results", "blue", "white", "Features", "Buy Now"]
    assert item.find("buy  now") is not None and item.find("[not a button]") is None
    assert item.find("blue").method == "GET" and item.find("Buy Now").method == "POST"
    done = parse_page((PAGES / "done.html").read_text())
    assert done.reward == 0.75 and "price upper" not in done.observation and "r_att" not in done.observation


def test_actions_grammar() -> None:
    assert parse_action("search[blue mug]") == ("search", "blue mug")
    assert parse_action("click[< Prev]") == ("click", "< Prev")
    assert parse_action("buy it") is None


def test_episode_over_http(server: str) -> None:
    env = load_environment("webshop", url=server)
    reset = env.reset(7)
    assert reset.task_id == "7" and reset.instruction.startswith("i need a blue ceramic mug")
    assert "Invalid action" in env.step("click[Buy Now]")
    page = env.step("search[Blue Ceramic Mug]")
    assert Recorded.searches[-1] == "Blue Ceramic Mug" and "[B07MUG0001]" in page
    assert "no search box" in env.step("search[again]")
    assert "[Buy Now]" in env.step("click[B07MUG0001]")
    assert "Glazed ceramic" in env.step("click[Features]")
    env.step("click[< Prev]")
    env.step("click[blue]")
    final = env.step("click[Buy Now]")
    assert "Your score" in final and env.done and env.score == 0.75 and not env.won
    assert "episode is over" in env.step("click[Buy Now]")
    assert env.replay(["search[blue ceramic mug]"]).count("[B07MUG") == 2 and not env.done


def test_tasks_and_errors(server: str) -> None:
    env = WebShop(url=server)
    assert env.list_tasks("test") == [str(i) for i in range(500)] and len(env.list_tasks("dev")) == 1000
    with pytest.raises(EnvError, match="unknown task id"):
        env.reset("goal-seven")
    with pytest.raises(EnvError, match="not reachable"):
        WebShop(url="http://127.0.0.1:9").reset(0)
    with pytest.raises(EnvError, match="split"):
        WebShop(split="valid")
