"""Agent Chat UI (the Vite app of the npm template create-agent-chat-app, built by scripts/build_chat_ui.sh) in
headless Chromium (Debian's package), talking to a real ``langgraph dev`` serving tests/studio_graph.py:
two turns, each approved from the page, the steps on the page while the episode is paused; LangChain's request
(the default schema) drawn in both turns; a served graph without a model saying why. Screenshots go to
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
                                  "graphs": {"mail_inbox": f"{GRAPH}:inbox", "mail_approving": f"{GRAPH}:approving",
                                             "recode": "recode_graph.graph:graph"}}))
    sent = base / "sent.tsv"
    with serve(base, base / "server.log", ("--config", str(config)), RECODE_TEST_SENT=str(sent), RECODE_MODEL="",
               OPENAI_API_KEY="") as url:
        yield url, sent


def browse(ui: str, url: str, graph: str, thread_id: str = "") -> Iterator[Any]:
    """A headless Chromium page on Agent Chat UI pointed at ``graph`` of the server at ``url`` (use in a for
    loop: the page's uncaught errors fail the test when it ends)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{ui}/?apiUrl={url}&assistantId={graph}" + (f"&threadId={thread_id}" if thread_id else ""))
            yield page
            assert not errors, errors
        finally:
            browser.close()


def ask(page: Any, task: str) -> None:
    from playwright.sync_api import expect

    box = page.get_by_placeholder("Type your message...")
    expect(box).to_be_visible(timeout=60_000)
    box.fill(task)
    # as a person does, send when the page can take it: while the last run's stream is still open (it can stay
    # open for seconds after the answer is drawn on a loaded machine) the template shows Cancel instead of Send
    # and drops a message sent with Enter, leaving it in the box
    expect(page.get_by_role("button", name="Send")).to_be_enabled(timeout=120_000)
    box.press("Enter")
    expect(box).to_have_value("", timeout=60_000)  # taken: the template empties the box when it submits


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


def thread_of(page: Any) -> str:
    """The thread the page shows (Agent Chat UI keeps it in the address)."""
    from urllib.parse import parse_qs, urlparse

    return parse_qs(urlparse(page.url).query).get("threadId", [""])[0]


def test_two_turns_are_approved_from_the_page_and_steps_show_before_the_episode_ends(
        ui: str, mail_dev: tuple[str, Path]) -> None:
    from langgraph_sdk import get_sync_client
    from playwright.sync_api import expect

    url, sent = mail_dev
    before = sends(sent)
    client = get_sync_client(url=url)
    for page in browse(ui, url, "mail_inbox"):
        for turn, task in enumerate(["mail bob", "mail bob again"], start=1):
            ask(page, task)
            # the request in the UI's Agent Inbox view, under the send_email call: the action, its arguments
            accept = page.get_by_role("button", name="Accept")
            expect(accept).to_have_count(1, timeout=120_000)
            expect(accept).to_be_visible()
            # the episode is paused, not ended: its steps so far are on the page (the code, the lookup's result)
            assert client.threads.get(thread_of(page))["status"] == "interrupted"
            expect(page.get_by_text("final_answer(receipt)").nth(turn - 1)).to_be_visible()
            expect(page.get_by_text("send_email").first).to_be_visible()
            expect(page.get_by_text("bob@example.org").first).to_be_visible()
            assert sends(sent) == [*before, *["bob@example.org\thi"] * (turn - 1)], "nothing sent before Accept"
            shot(page, f"chat-ui-approval-turn{turn}.png")
            accept.click()
            # the answer, and before it the expansion's code and each call with its result
            answers = page.get_by_text("sent to bob@example.org")  # the send's result and the answer, per turn
            expect(answers).to_have_count(2 * turn, timeout=120_000)
            expect(page.get_by_text("Tool Result:").first).to_be_visible()
            expect(accept).to_have_count(0)
            if turn == 2:
                shot(page, "chat-ui-answer-turn2.png")
        thread = client.threads.get(thread_of(page))
    assert sends(sent) == [*before, "bob@example.org\thi", "bob@example.org\thi"]
    assert thread["status"] == "idle"
    messages = thread["values"]["messages"]
    assert [m["type"] for m in messages] == ["human", "ai", "ai", "tool", "ai", "tool", "ai"] * 2
    calls = [m["tool_calls"][0]["name"] for m in messages if m["type"] == "ai" and m.get("tool_calls")]
    assert calls == ["lookup", "send_email"] * 2
    assert messages[-1]["content"] == "sent to bob@example.org"


def test_the_default_schema_request_is_drawn_in_every_turn(ui: str, mail_dev: tuple[str, Path]) -> None:
    """The template's generic view of LangChain's HITL request (it has no buttons for it: the decision is sent
    with the SDK, as Agent Inbox or any other client would), in turn 1 and turn 2, under the send_email call."""
    from langgraph_sdk import get_sync_client
    from playwright.sync_api import expect

    url, sent = mail_dev
    before = sends(sent)
    client = get_sync_client(url=url)
    thread_id = ""
    for turn, task in enumerate(["mail bob", "mail bob again"], start=1):
        for page in browse(ui, url, "mail_approving", thread_id):
            ask(page, task)
            expect(page.get_by_text("Human Interrupt")).to_be_visible(timeout=120_000)
            thread_id = thread_of(page)
            thread = paused(client, "mail_approving")
            assert thread["status"] == "interrupted" and thread["thread_id"] == thread_id, thread
            newest = thread["values"]["messages"][-1]
            assert newest["type"] == "ai" and newest["tool_calls"][0]["name"] == "send_email"
            expect(page.get_by_text("action_requests").first).to_be_visible()
            expect(page.get_by_text("send_email").first).to_be_visible()
            shot(page, f"chat-ui-langchain-schema-turn{turn}.png")
        assert sends(sent) == [*before, *["bob@example.org\thi"] * (turn - 1)]
        client.runs.wait(thread_id, "mail_approving", command={"resume": {"decisions": [{"type": "approve"}]}})
    assert sends(sent) == [*before, "bob@example.org\thi", "bob@example.org\thi"]
    for page in browse(ui, url, "mail_approving", thread_id):  # the finished thread, as the page shows it again
        expect(page.get_by_text("sent to bob@example.org")).to_have_count(4, timeout=60_000)
        expect(page.get_by_text("Human Interrupt")).to_have_count(0)


def test_a_served_graph_without_a_model_says_why_in_the_chat(ui: str, mail_dev: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    url, _ = mail_dev
    for page in browse(ui, url, "recode"):
        ask(page, "hello")
        expect(page.get_by_text("ModelError: no model for this run").first).to_be_visible(timeout=120_000)
        expect(page.get_by_text("RECODE_MODEL").first).to_be_visible()
        shot(page, "chat-ui-no-model.png")
