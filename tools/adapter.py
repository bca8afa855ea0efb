"""Shared episode bookkeeping for the adapters: step counting, step limit, done/won/score, replay, spawn.

Subclasses implement four hooks: ``_start(task_id)`` (load a task, return the ``Reset``),
``_act(action)`` (one action → observation, finished, won, score), ``_shutdown()`` and ``list_tasks``.
Engines that know their valid actions also implement ``_valid_actions()`` and ``_refused(action, outcome)``,
which enables action grounding (``grounding="hint"`` / ``"snap"``, see tools/grounding.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple, Self

from recode_graph.tools import grounding as gr
from recode_graph.tools.base import EnvError, PromptResources, Reset


class Outcome(NamedTuple):
    """What one engine action produced."""

    observation: str
    finished: bool
    won: bool
    score: float


class BaseAdapter(ABC):
    """Common implementation of the ``Environment`` protocol around an engine-specific core."""

    name: str = ""
    default_step_limit: int = 50
    data_note: str | None = None  # one line for the user when the bundled sample stands in for the data

    def __init__(self, *, step_limit: int | None = None, grounding: str = "off", **options: Any) -> None:
        self._options: dict[str, Any] = {"step_limit": step_limit, **options}
        if grounding != "off":
            self._options["grounding"] = grounding
        try:
            self.grounding = gr.check_mode(grounding)
        except ValueError as exc:
            raise EnvError(f"{self.name}: {exc}") from None
        if self.grounding != "off" and type(self)._valid_actions is BaseAdapter._valid_actions:
            raise EnvError(f"{self.name}: grounding={grounding!r} needs the valid actions, which this environment "
                           "does not list; use grounding='off'")
        self._fixed_limit = step_limit
        self._task: Reset | None = None
        self._actions: list[str] = []
        self._last_observation = ""
        self._done = False
        self._won = False
        self._score = 0.0
        self._limit_reached = False
        self._refused_actions: list[str] = []  # actions the engine refused this episode (state unchanged)

    # -- hooks ---------------------------------------------------------------------------------------
    @abstractmethod
    def _start(self, task_id: str | int) -> Reset: ...

    @abstractmethod
    def _act(self, action: str) -> Outcome: ...

    def _shutdown(self) -> None:  # noqa: B027 - optional hook
        """Release engine resources (processes, connections)."""

    def _valid_actions(self) -> list[str] | None:
        """The actions valid in the current state, or None when the engine does not list them."""
        return None

    def _refused(self, action: str, outcome: Outcome) -> bool:
        """Whether the engine refused ``action`` as invalid (the state did not change)."""
        return False

    def situation(self) -> str:
        """One line on where the agent stands that it could find out itself (e.g. ALFWorld: the place it is
        at and what it holds), for the re-plan prompt; "" when the engine does not track it."""
        return ""

    def _task_step_limit(self) -> int:
        """The step limit of the current task when no fixed limit was given."""
        return self.default_step_limit

    @abstractmethod
    def list_tasks(self, split: str | None = None) -> list[str]: ...

    @abstractmethod
    def prompt_resources(self, task_type: str = "") -> PromptResources: ...

    # -- protocol ------------------------------------------------------------------------------------
    @property
    def step_limit(self) -> int:
        return self._fixed_limit if self._fixed_limit is not None else self._task_step_limit()

    @property
    def done(self) -> bool:
        return self._done

    @property
    def won(self) -> bool:
        return self._won

    @property
    def score(self) -> float:
        return self._score

    @property
    def steps(self) -> int:
        return len(self._actions)

    @property
    def actions(self) -> list[str]:
        """Actions taken since the last reset (what ``replay`` needs)."""
        return list(self._actions)

    @property
    def refused_actions(self) -> list[str]:
        """Actions refused since the last reset, in order (repeats kept); empty where refusals are unknown."""
        return list(self._refused_actions)

    @property
    def task(self) -> Reset | None:
        """The current task as returned by the last ``reset`` (None before the first)."""
        return self._task

    @property
    def task_id(self) -> str:
        return self._task.task_id if self._task else ""

    @property
    def task_type(self) -> str:
        return self._task.task_type if self._task else ""

    @property
    def last_observation(self) -> str:
        return self._last_observation

    def reset(self, task_id: str | int) -> Reset:
        task = self._start(task_id)  # an unknown task id raises here and leaves the current episode as is
        self._actions = []
        self._refused_actions = []
        self._done = self._won = self._limit_reached = False
        self._score = 0.0
        self._task = task
        self._last_observation = task.observation
        return task

    def step(self, action: str) -> str:
        if self._task is None:
            raise EnvError(f"{self.name}: call reset(task_id) before step()")
        if self._done:
            return self._over_message()
        action = " ".join(str(action).split())
        self._actions.append(action)
        outcome = self._act(action) if self.grounding == "off" else self._grounded_act(action)
        if self._refused(action, outcome):  # with grounding: whether the action finally run was refused
            self._refused_actions.append(action)
        self._score = max(0.0, min(1.0, outcome.score))
        self._won = outcome.won
        self._done = outcome.finished or outcome.won
        if not self._done and self.steps >= self.step_limit:
            self._done = self._limit_reached = True
        self._last_observation = outcome.observation
        return outcome.observation

    def valid_actions(self) -> list[str]:
        """The actions valid now (sorted); an ``EnvError`` when the engine does not list them."""
        if self._task is None:
            raise EnvError(f"{self.name}: call reset(task_id) before valid_actions()")
        valid = self._valid_actions()
        if valid is None:
            raise EnvError(f"{self.name}: this environment does not list its valid actions")
        return sorted(dict.fromkeys(valid))

    def _grounded_act(self, action: str) -> Outcome:
        """``_act`` with grounding: a refused action gets the closest valid actions listed (hint) or, when
        one is clearly closest, that action run instead (snap)."""
        outcome = self._act(action)
        if not self._refused(action, outcome):
            return outcome
        valid = self._valid_actions() or []  # a refused action left the state as it was
        shown = self._shown_action(action)
        same = self._equivalent(shown, valid)
        if self.grounding == "snap":
            chosen = same or gr.clear_choice(shown, valid)
            if chosen is not None:
                snapped = self._act(chosen)
                return snapped._replace(observation=f"{snapped.observation}\n{gr.snap_note(shown, chosen)}")
        return outcome._replace(observation=f"{outcome.observation}\n{gr.hint_text(shown, valid, first=same)}")

    def _equivalent(self, action: str, valid: list[str]) -> str | None:
        """A valid action with the effect the refused ``action`` meant (e.g. ALFWorld's "go to X" while at X
        is "examine X"), or None."""
        return None

    def _shown_action(self, action: str) -> str:
        """The action as the engine read it (grounding compares this form with the valid actions)."""
        return action

    def replay(self, actions: list[str]) -> str:
        if self._task is None:
            raise EnvError(f"{self.name}: call reset(task_id) before replay()")
        observation = self.reset(self._task.task_id).observation
        for action in actions:
            observation = self.step(action)
        return observation

    def spawn(self) -> Self:
        return type(self)(**self._options)

    def close(self) -> None:
        self._shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _over_message(self) -> str:
        if self._limit_reached:
            return f"The episode is over: the step limit of {self.step_limit} actions was reached."
        outcome = "the task was completed" if self._won else "the task ended"
        return f"The episode is over: {outcome}. No further actions are possible."
