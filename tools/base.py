"""The environment protocol: one small interface every adapter implements.

An environment is deterministic for a task id, so a thread resumed in a fresh process can be rebuilt
by ``reset(task_id)`` followed by ``replay(actions)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class EnvironmentError_(RuntimeError):
    """A one-line, user-facing environment problem (missing data, unknown task, bad split)."""


EnvError = EnvironmentError_


@dataclass(frozen=True)
class Reset:
    """What ``reset`` returns: the task as the agent first sees it."""

    task_id: str
    instruction: str
    observation: str
    task_type: str = ""


@dataclass(frozen=True)
class PromptResources:
    """Text that goes into the static part of the expansion prompt."""

    actions: str  # how to act: the run(...) primitive and the action grammar
    examples: str  # few-shot expansions in the ReCode format (think + code)
    notes: str = ""  # optional environment-specific hints


@runtime_checkable
class Environment(Protocol):
    """The protocol. Adapters live in tools/<name>.py and are built by tools.load_environment."""

    name: str

    @property
    def step_limit(self) -> int: ...

    @property
    def done(self) -> bool: ...

    @property
    def won(self) -> bool: ...

    @property
    def score(self) -> float: ...  # 0..1

    @property
    def steps(self) -> int: ...  # actions taken since the last reset

    def list_tasks(self, split: str | None = None) -> list[str]: ...

    def reset(self, task_id: str | int) -> Reset: ...

    def step(self, action: str) -> str: ...

    def replay(self, actions: list[str]) -> str: ...  # returns the last observation

    def close(self) -> None: ...

    def prompt_resources(self, task_type: str = "") -> PromptResources: ...

    def spawn(self) -> Environment: ...  # a fresh, independent instance with the same options


@dataclass
class EpisodeInfo:
    """Bookkeeping an adapter may expose for reports."""

    task_id: str = ""
    task_type: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
