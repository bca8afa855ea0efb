"""recode_graph.serving.errors: a failed run's error keeps its type and fits on one line (pure functions; the
same path runs inside the real Aegra servers in test_server_library.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from recode_graph.serving.errors import typed_finalize, typed_result_body


def finalized(error: Exception) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def finalize_run(run_id: str, thread_id: str, **kwargs: Any) -> bool:
        seen.update(kwargs)
        return True

    async def failing_run() -> None:
        try:
            raise error
        except Exception as exc:
            await typed_finalize(finalize_run)("r", "t", user_id="u", status="error", thread_status="error",
                                               output={}, error=str(exc))

    asyncio.run(failing_run())
    return seen


class ModelError(Exception):
    pass


def test_the_stored_message_gets_the_exception_type_and_one_line() -> None:
    assert finalized(ModelError("no model for this run"))["error"] == "ModelError: no model for this run"
    psycopg_like = ConnectionError("consuming input failed: server closed the connection unexpectedly\n\t"
                                   "This probably means the server terminated abnormally\n")
    assert finalized(psycopg_like)["error"] == ("ConnectionError: consuming input failed: server closed the "
                                                "connection unexpectedly")


def test_the_wait_body_splits_the_type_off_again() -> None:
    body = typed_result_body(lambda: {"__error__": {"error": "Error", "message": "ModelError: no model"}})()
    assert body == {"__error__": {"error": "ModelError", "message": "no model"}}
    plain = {"__error__": {"error": "Error", "message": "Max retries exceeded after repeated worker failures"}}
    assert typed_result_body(lambda: plain)() == plain
    assert typed_result_body(lambda: {"answer": 1})() == {"answer": 1}
