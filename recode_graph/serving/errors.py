"""A failed run's output carries its error, as ``langgraph dev`` gives it: ``{"__error__": {"error": TYPE,
"message": TEXT}}``, which ``runs.wait`` of the LangGraph SDK raises as ``TYPE: TEXT``. Aegra 0.6 stores an empty
output, so ``runs.wait`` would return ``{}`` for a failed run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from psycopg.types.json import Jsonb

Signal = Callable[..., Awaitable[Any]]
Executor = Callable[..., Awaitable[None]]
Connect = Callable[[], Any]  # an async context manager giving a psycopg connection


class RunErrors:
    """Remembers the error each run of this process signalled, and writes it into the failed run's output."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._seen: dict[str, dict[str, str]] = {}

    def signal(self, original: Signal) -> Signal:
        """Wraps Aegra's ``signal_run_error(run_id, message, error_type)``."""

        async def signal_run_error(run_id: str, error_message: str, error_type: str = "Error") -> Any:
            self._seen.setdefault(run_id, {"error": error_type, "message": error_message})
            return await original(run_id, error_message, error_type)

        return signal_run_error

    def executor(self, execute: Executor) -> Executor:
        """Wraps Aegra's run executor: after a run that failed, its output is the error."""

        async def run(run_id: str, *args: Any) -> None:
            self._seen.pop(run_id, None)
            try:
                await execute(run_id, *args)
            finally:
                error = self._seen.pop(run_id, None)
                if error is not None:
                    async with self._connect() as conn:
                        await conn.execute("UPDATE runs SET output = %s WHERE run_id = %s AND status = 'error'",
                                           (Jsonb({"__error__": error}), run_id))

        return run
