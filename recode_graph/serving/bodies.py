"""Request bodies the server can store: a JSON body holding a string Postgres cannot keep (a lone surrogate such
as ``"\\ud800"``, or a NUL) is refused with HTTP 422 naming the field, before Aegra tries to store it (which
was an HTTP 500 and a dropped connection).

``TextBodies`` is an ASGI middleware: it reads the body of a POST/PUT/PATCH, checks it only when it holds a
``\\u`` escape (the only way JSON text can carry either), and hands the same bytes on.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_DEPTH = 200  # nesting followed when looking for the bad string (deeper bodies are left to the server)


def _bad_char(text: str) -> str | None:
    if "\x00" in text:
        return "a NUL character (\\u0000)"
    for char in text:
        if "\ud800" <= char <= "\udfff":
            return f"a lone surrogate (\\u{ord(char):04x}), which is not text"
    return None


def _where(path: list[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the body"


def body_problem(body: bytes) -> str | None:
    """The one-line reason ``body`` cannot be stored, naming the field (e.g. ``input.instruction``), or None."""
    if b"\\u" not in body:
        return None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON this check understands: the server answers it as before
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if len(path) > MAX_DEPTH:
            continue
        if isinstance(item, str):
            bad = _bad_char(item)
            if bad:
                return f"{_where(path)}: holds {bad}; send UTF-8 text"
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                bad = _bad_char(key)
                if bad:
                    return f"{_where([*path, repr(key)[1:-1]])}: the key holds {bad}; send UTF-8 text"
                stack.append((child, [*path, key]))
        elif isinstance(item, list):
            stack.extend((child, [*path, i]) for i, child in reversed(list(enumerate(item))))
    return None


class TextBodies:
    """ASGI middleware: 422 for a JSON body with a string Postgres cannot store (see the module docstring)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away before its body arrived
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = body_problem(body)
        if problem:
            payload = json.dumps({"error": "invalid_text", "message": problem, "detail": problem}).encode()
            await send({"type": "http.response.start", "status": 422,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that first gives ``body`` whole, then the client's own messages (a disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def again() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return again
