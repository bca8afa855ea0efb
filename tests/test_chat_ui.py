"""Agent Chat UI (the Vite app of the npm template create-agent-chat-app, built by scripts/build_chat_ui.sh) in
headless Chromium (Debian's package), talking to a real ``langgraph dev`` serving tests/studio_graph.py:
type a task, see the steps as tool calls, approve the send from the page, see the answer. Screenshots go to
docs/img/ when RECODE_SCREENSHOTS is set. Skipped where the UI or Chromium is missing, a failure under CI."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, required_under_ci, serve

DIST = ROOT / ".ui" / "agent-chat-ui" / "dist"
SHOTS = ROOT / "docs" / "img"
GRAPH = ROOT / "tests" / "studio_graph.py"


def chromium() -> str:
    """Debian's Chromium, with Playwright and the built UI; skipped without them, a failure under CI."""
    problem, path = "", shutil.which("chromium") or shutil.which("chromium-browser") or ""
    try:
        import playwright  # noqa: F401
    except ImportError:
        problem = "playwright is not installed (pip install -e '.[dev]')"
    if not path:
        problem = "Chromium is not installed (make install-ui)"
    elif not (DIST / "index.html").exists():
        problem = f"Agent Chat UI is not built at {DIST} (make install-ui)"
    if problem:
        required_under_ci("the browser tests", problem)
    return path


@pytest.fixture(scope="module")
def ui() -> Iterator[str]:
    """The built UI served as static files on a free port (any other path gets index.html)."""
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def send_head(self) -> Any:
            if not (DIST / self.path.split("?")[0].lstrip("/")).is_file():
                self.path = "/index.html"
            return super().send_head()

    chromium()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(DIST)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def mail_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``langgraph dev`` serving the mail graphs (approvals set in code, the server's checkpointer)."""
    base = tmp_path_factory.mktemp("chatui")
    config = base / "langgraph.json"
    config.write_text(json.dumps({"dependencies": [str(ROOT)],
                                  "graphs": {"mail_inbox": f"{GRAPH}:inbox", "mail_approving": f"{GRAPH}:approving"}}))
    sent = base / "sent.tsv"
    with serve(base, base / "server.log", ("--config", str(config)), RECODE_TEST_SENT=str(sent)) as url:
        yield url, sent


def browse(ui: str, url: str, graph: str) -> Iterator[Any]:
    """A headless Chromium page on Agent Chat UI pointed at ``graph`` of the server at ``url`` (use in a for
    loop: the page's uncaught errors fail the test when it ends)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{ui}/?apiUrl={url}&assistantId={graph}")
            yield page
            assert not errors, errors
        finally:
            browser.close()


def ask(page: Any, task: str) -> None:
    from playwright.sync_api import expect

    box = page.get_by_placeholder("Type your message...")
    expect(box).to_be_visible(timeout=60_000)
    box.fill(task)
    box.press("Enter")


def shot(page: Any, name: str) -> None:
    if os.environ.get("RECODE_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / name))


def sends(sent: Path) -> list[str]:
    return sent.read_text().splitlines() if sent.exists() else []


def paused(client: Any, graph: str, timeout: float = 120) -> dict[str, Any]:
    """The newest thread of ``graph`` once it is interrupted or failed (or whatever it is after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        threads = client.threads.search(limit=1, metadata={"graph_id": graph})
        if threads and threads[0]["status"] in ("interrupted", "error") or time.monotonic() > deadline:
            return threads[0] if threads else {}
        time.sleep(0.5)


def test_task_typed_in_agent_chat_ui_is_approved_from_the_page(ui: str, mail_dev: tuple[str, Path]) -> None:
    from langgraph_sdk import get_sync_client
    from playwright.sync_api import expect

    url, sent = mail_dev
    before = sends(sent)
    for page in browse(ui, url, "mail_inbox"):
        ask(page, "mail bob")
        # the approval request in the UI's Agent Inbox view: the action, its arguments, the buttons
        accept = page.get_by_role("button", name="Accept")
        expect(accept).to_be_visible(timeout=120_000)
        expect(page.get_by_text("send_email").first).to_be_visible()
        expect(page.get_by_text("bob@example.org").first).to_be_visible()
        assert sends(sent) == before, "nothing is sent before the reviewer accepts"
        shot(page, "chat-ui-approval.png")
        accept.click()
        # the answer, and before it the expansion's code and each call with its result
        expect(page.get_by_text("sent to bob@example.org").last).to_be_visible(timeout=120_000)
        expect(page.get_by_text("Tool Result:").first).to_be_visible()
        expect(page.get_by_text("final_answer(receipt)").first).to_be_visible()
        shot(page, "chat-ui-answer.png")
    assert sends(sent) == [*before, "bob@example.org\thi"]
    client = get_sync_client(url=url)
    thread = client.threads.search(limit=1, metadata={"graph_id": "mail_inbox"})[0]
    assert thread["status"] == "idle"
    messages = thread["values"]["messages"]
    assert [m["type"] for m in messages] == ["human", "ai", "ai", "tool", "ai", "tool", "ai"]
    calls = [m["tool_calls"][0]["name"] for m in messages if m["type"] == "ai" and m.get("tool_calls")]
    assert calls == ["lookup", "send_email"]
    assert messages[-1]["content"] == "sent to bob@example.org"


def test_the_langchain_schema_renders_nothing_to_approve(ui: str, mail_dev: tuple[str, Path]) -> None:
    """What the template shows for the default schema (LangChain's HITL request): the run pauses on the server,
    and the page shows only the task, no request and nothing to press (its generic interrupt view is drawn only
    under an AI message, and the steps reach ``messages`` when the episode ends); nothing is sent."""
    from langgraph_sdk import get_sync_client
    from playwright.sync_api import expect

    url, sent = mail_dev
    before = sends(sent)
    client = get_sync_client(url=url)
    for page in browse(ui, url, "mail_approving"):
        ask(page, "mail bob")
        thread = paused(client, "mail_approving")
        assert thread["status"] == "interrupted", thread
        assert thread["interrupts"], thread
        expect(page.get_by_role("button", name="Send")).to_be_visible(timeout=60_000)  # the stream has ended
        expect(page.get_by_text("mail bob").first).to_be_visible()
        expect(page.get_by_role("button", name="Accept")).to_have_count(0)
        expect(page.get_by_text("send_email")).to_have_count(0)
        shot(page, "chat-ui-langchain-schema.png")
    assert sends(sent) == before
