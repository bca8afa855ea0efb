"""A failed run's error type, as ``langgraph dev`` gives it: ``runs.wait`` of the LangGraph SDK raises
``ModelError: no model ...`` rather than Aegra 0.11's ``Error: no model ...``.

Aegra stores a failed run's message (``runs.error_message``) without the exception's type and reports every
failure as ``{"__error__": {"error": "Error", ...}}``. Here the message is stored as ``TYPE: MESSAGE`` (the
exception being handled when Aegra finalizes the run gives the type) and on one line (the first line of a
multi-line message, such as psycopg's; the whole error is in the server's log), and the body of ``runs.wait`` /
``runs.join`` splits it again."""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any

TYPED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:Error|Exception)): (.*)", re.DOTALL)

Finalize = Callable[..., Awaitable[bool]]
ResultBody = Callable[..., dict[str, Any]]


def typed_finalize(finalize: Finalize) -> Finalize:
    """Wraps ``run_status.finalize_run`` as the run executor calls it."""

    async def finalize_run(*args: Any, **kwargs: Any) -> bool:
        handled = sys.exc_info()[1]
        error = kwargs.get("error")
        if (kwargs.get("status") == "error" and isinstance(error, str) and isinstance(handled, Exception)
                and error == str(handled)):
            first = next((line.strip() for line in error.splitlines() if line.strip()), "no message")
            kwargs["error"] = first if TYPED.fullmatch(first) else f"{type(handled).__name__}: {first}"
        return await finalize(*args, **kwargs)

    return finalize_run


def typed_result_body(result_body: ResultBody) -> ResultBody:
    """Wraps ``run_waiters.run_result_body``: ``{"error": "Error", "message": "TYPE: TEXT"}`` becomes
    ``{"error": "TYPE", "message": "TEXT"}``."""

    def run_result_body(*args: Any, **kwargs: Any) -> dict[str, Any]:
        body = result_body(*args, **kwargs)
        error = body.get("__error__") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("error") == "Error":
            typed = TYPED.fullmatch(str(error.get("message", "")))
            if typed:
                return {**body, "__error__": {"error": typed.group(1), "message": typed.group(2)}}
        return body

    return run_result_body
