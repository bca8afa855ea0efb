"""What one execute step's primitive calls leave behind: ``StepRecorder`` (the calls in order, and the
host-side end of the statement) and ``settle`` (the statement's outcome as the host decided it, whatever the
generated code did with the exceptions that ended it)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from recode_graph.engine.statesize import StateMeter
from recode_graph.sandbox import EpisodeStop, ExecResult
from recode_graph.sandbox.plain import stored_args


class ControlFlow(BaseException):
    """Carries LangGraph's interrupt/bubble-up exceptions through user code (which may catch Exception)."""

    def __init__(self, inner: BaseException) -> None:
        super().__init__(str(inner))
        self.inner = inner


class RunFailed(EpisodeStop):
    """The run must end as failed (a reviewer chose to fail it after an uncertain side effect)."""


class StateFull(EpisodeStop):
    """A call would take the episode's state over ``Limits.max_state_bytes``: the statement ends as failed with
    this message (``recode_graph.engine.statesize``)."""


class ActionRejected(EpisodeStop):
    """A reviewer rejected a primitive call: the statement ends, the message goes to the repair prompt.

    A ``BaseException`` (``except Exception`` does not catch it; bare ``except`` and ``except BaseException``
    are refused at validation), and the host does not depend on it propagating: see ``StepRecorder.halt``."""


@dataclass
class StepRecorder:
    """Calls made by one execute step, in order."""

    node: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    answer: str | None = None
    structured: Any = None  # the validated value of final_answer under a response_format
    env_state: dict[str, Any] | None = None  # last environment report: done, won, score
    # Host-side end of the statement: the first interrupt, rejection, final answer or end of the environment
    # episode. Every later primitive call in the statement raises it again, and ``settle`` acts on it after
    # the statement returns, whatever ``try``/``finally`` the generated code has (and wherever it ran).
    halt: BaseException | None = None
    calls: int = 0  # primitive calls started in this statement (the call index of idempotency keys)
    update: dict[str, Any] = field(default_factory=dict)  # state updates from tools' Commands
    end_reason: str = ""  # a middleware ended the run during this statement
    meter: StateMeter | None = None  # the episode's state size (Limits.max_state_bytes)

    def add(self, name: str, args: Any, output: Any, **extra: Any) -> None:
        """Record a call: ``args`` as the code passed them (stored in their checkpoint form), ``output`` already
        in its checkpoint form. A record that takes the state over its cap is kept without its output, and the
        statement ends (``StateFull``)."""
        step = {"name": name, "args": stored_args(args), "output": output, "node": self.node, **extra}
        self.steps.append(step)
        if self.meter is not None and self.meter.record(step):
            raise self.stop(StateFull(self.meter.full))

    def room(self, name: str, args: Any) -> None:
        """Refuse a call (it does not run; the statement ends) whose arguments would take the state over its cap."""
        if self.meter is not None and self.meter.room_for(name, args):
            raise self.stop(StateFull(self.meter.full))

    def check_open(self) -> None:
        """Refuse a primitive call once the statement has been ended by the host."""
        if self.halt is not None:
            raise self.halt

    def stop(self, exc: BaseException) -> BaseException:
        """Record the statement's end (the first one wins) and return what to raise."""
        if self.halt is None:
            self.halt = exc
        return self.halt


def settle(result: ExecResult, recorder: StepRecorder) -> ExecResult:
    """The statement's outcome as the host decided it: a pending interrupt is raised again (the node re-runs
    on resume), a rejection fails the statement with the reviewer's message, a final answer or the end of
    the environment episode stops it, even when the generated code caught, replaced or outlived them."""
    halt = recorder.halt
    if isinstance(halt, ControlFlow):
        raise halt.inner from None
    if isinstance(halt, RunFailed):
        return replace(result, ok=False, error=f"RunFailed: {halt}", error_type="RunFailed", stopped="")
    if isinstance(halt, StateFull):
        return replace(result, ok=False, error=f"MemoryError: {halt}", error_type="MemoryError", stopped="")
    if isinstance(halt, ActionRejected):
        return replace(result, ok=False, error=f"ActionRejected: {halt}", error_type="ActionRejected",
                       stopped="")
    if isinstance(halt, EpisodeStop):
        return replace(result, ok=True, error="", error_type="", stopped=str(halt) or "stopped")
    return result
