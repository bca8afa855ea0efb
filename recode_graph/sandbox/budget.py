"""The budgets of one statement, counted where it runs: its own computation (executed operations and seconds,
``Limits.max_lines`` / ``Limits.max_seconds``) and the time it spends waiting for tool and environment calls
(``Limits.max_tool_seconds``). Waiting for a tool never counts as computation: a loop over a slow API fits in
the tool budget, and a loop of cheap calls is still stopped by ``Limits.max_calls`` (worker executor) or the
tool budget."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Protocol


class Limits(Protocol):
    """What the budgets read of ``recode_graph.sandbox.restricted.Limits`` (which imports this module)."""

    @property
    def max_lines(self) -> int: ...
    @property
    def max_seconds(self) -> float: ...
    @property
    def max_tool_seconds(self) -> float: ...

FILENAME = "<recode>"


class BudgetExceeded(BaseException):
    """Raised inside user code when a budget of its statement is spent (user code cannot catch it)."""


def computation_spent(limits: Limits) -> str:
    return (f"time budget exceeded ({limits.max_seconds:g} s of computation in one statement; time waiting for "
            "tools does not count): avoid huge numbers, endless iterators and very long computations")


def tool_time_spent(limits: Limits, spent: float) -> str:
    return (f"tool time budget exceeded: this statement's tool and environment calls took {spent:.0f} s "
            f"(Limits.max_tool_seconds is {limits.max_tool_seconds:g} s): split the loop into several "
            "statements, each over fewer items")


class Budget:
    """Counts executed lines of user code (frames compiled as FILENAME) and wall time, per thread; and, in
    ``paused``, the time spent in primitive calls (the tool budget)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.lines = 0
        self.spent = 0.0
        self.tool_spent = 0.0  # seconds inside primitive calls
        self._start = 0.0
        self._paused = 0
        self.tripped = ""

    def _check(self) -> None:
        if self.tripped:
            raise BudgetExceeded(self.tripped)
        self.lines += 1
        if self.lines > self.limits.max_lines:
            self.tripped = f"operation budget exceeded ({self.limits.max_lines} operations)"
            raise BudgetExceeded(self.tripped)
        if self.lines % 1024 == 0 and not self._paused:
            if self.spent + time.perf_counter() - self._start > self.limits.max_seconds:
                self.tripped = computation_spent(self.limits)
                raise BudgetExceeded(self.tripped)

    def _local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "opcode":
            self._check()
        return self._local

    def _global(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename == FILENAME:
            frame.f_trace_opcodes = True  # opcode events: one-line loops emit no line events
            frame.f_trace_lines = False
            if event == "call":
                self._check()
            return self._local
        return None

    def remaining(self) -> float:
        """Seconds left of the wall-time budget (the limit for C-level work such as a regex match)."""
        used = self.spent + (time.perf_counter() - self._start if self._start else 0.0)
        return max(0.0, self.limits.max_seconds - used)

    @contextmanager
    def running(self) -> Iterator[None]:
        previous = sys.gettrace()
        self._start = time.perf_counter()
        sys.settrace(self._global)
        try:
            yield
        finally:
            sys.settrace(previous)
            self.spent += time.perf_counter() - self._start

    @contextmanager
    def paused(self) -> Iterator[None]:
        """A primitive call (tool, environment step): it does not count against the statement's computation but
        against its tool budget. A call that starts once that budget is spent is refused (``BudgetExceeded``);
        a call that is running is never cut short (its result is recorded)."""
        if not self._paused and self.tool_spent > self.limits.max_tool_seconds:
            raise BudgetExceeded(tool_time_spent(self.limits, self.tool_spent))
        self._paused += 1
        stop = time.perf_counter()
        previous = sys.gettrace()
        sys.settrace(None)  # engine code run by the primitive is not traced (nor slowed down)
        try:
            yield
        finally:
            sys.settrace(previous)
            took = time.perf_counter() - stop
            self._start += took
            self._paused -= 1
            if not self._paused:
                self.tool_spent += took
