"""ALFWorld (text) adapter: household tasks on the TextWorld PDDL engine, fully offline.

Data: ``<data>/alfworld/json_2.1.1/valid_seen`` (split "seen", 140 games) and ``valid_unseen`` (split
"unseen", 134 games), where <data> is the ``data_dir=`` option, else ``RECODE_DATA_DIR``, else the data that
``recode data alfworld`` installed, else the bundled sample (one game per task type and split; see
``tools/datasets.py``). Task ids are game folders relative to the split directory
(``pick_and_place_simple-Mug-None-Desk-308/trial_T2019...``); an int is an index into ``list_tasks()``.

The engine speaks ALFWorld 0.4 phrasing (``move X to Y``); ``put X in/on Y`` (older ALFWorld, ReAct prompts)
is translated. Episodes end when the goal holds (won, score 1) or after 80 actions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from recode_graph.tools.adapter import BaseAdapter, Outcome
from recode_graph.tools.base import EnvError, PromptResources, Reset
from recode_graph.tools.datasets import fix_hint, locate, sample_note
from recode_graph.tools.prompting import prompt_text

SPLITS = {"seen": "valid_seen", "unseen": "valid_unseen"}
TASK_TYPES = {
    "pick_and_place_simple": "put",
    "pick_clean_then_place_in_recep": "clean",
    "pick_heat_then_place_in_recep": "heat",
    "pick_cool_then_place_in_recep": "cool",
    "look_at_obj_in_light": "examine",
    "pick_two_obj_and_place": "puttwo",
}
STEP_LIMIT = 80
_PUT_RE = re.compile(r"^(?:put|place) (?P<obj>.+?) (?:in/on|in|on|into|onto|to) (?P<recep>.+)$")


def task_type_of(task_id: str) -> str:
    """'put', 'clean', ... from the game folder name."""
    prefix = task_id.split("/", 1)[0].split("-", 1)[0]
    return TASK_TYPES.get(prefix, "")


def engine_command(action: str, admissible: list[str] | set[str]) -> str:
    """Normalise an action to the engine's phrasing (lowercase, no final period, put → move)."""
    command = action.strip().lower().rstrip(".").strip()
    if command in admissible:
        return command
    found = _PUT_RE.match(command)
    if found:
        return f"move {found['obj']} to {found['recep']}"
    return command


class AlfWorld(BaseAdapter):
    """ALFWorld text games; one game at a time per instance (``reset`` switches games)."""

    name = "alfworld"
    default_step_limit = STEP_LIMIT

    def __init__(self, split: str = "unseen", data_dir: str | Path | None = None,
                 step_limit: int | None = None, grounding: str = "off") -> None:
        super().__init__(step_limit=step_limit, split=split, data_dir=data_dir, grounding=grounding)
        if split not in SPLITS:
            raise EnvError(f"alfworld: unknown split {split!r} (split= one of: {', '.join(SPLITS)})")
        self._split = split
        self.data = locate("alfworld", data_dir)
        self.data_note = sample_note("alfworld", self.data)  # set when the bundled sample stands in
        self._root = self.data.path
        self._listing: dict[str, list[str]] = {}
        self._engine: Any = None
        self._last_command: tuple[str, bool] = ("", False)  # the last command as the engine read it, refused
        self._at, self._held = "", ""  # where the agent went last and what it holds (from accepted commands)

    def list_tasks(self, split: str | None = None) -> list[str]:
        split = split or self._split
        if split not in SPLITS:
            raise EnvError(f"alfworld: unknown split {split!r} (one of: {', '.join(SPLITS)})")
        if split not in self._listing:
            base = self._root / SPLITS[split]
            if not base.is_dir():
                raise EnvError(f"alfworld: split directory {base} not found: {fix_hint('alfworld')}")
            games = sorted(p.parent.relative_to(base).as_posix() for p in base.glob("*/*/game.tw-pddl"))
            self._listing[split] = games
        return list(self._listing[split])

    def _resolve(self, task_id: str | int) -> str:
        tasks = self.list_tasks()
        if isinstance(task_id, int) or (isinstance(task_id, str) and task_id.isdigit()):
            index = int(task_id)
            if not 0 <= index < len(tasks):
                raise EnvError(f"alfworld: task index {index} not in 0..{len(tasks) - 1} ({self._split})")
            return tasks[index]
        key = str(task_id).strip("/")
        if key not in tasks:
            raise EnvError(f"alfworld: unknown task id {key!r} in split {self._split!r}")
        return key

    def _start(self, task_id: str | int) -> Reset:
        from recode_graph.tools.alfworld_engine import AlfredEngine

        key = self._resolve(task_id)
        if self._engine is None:
            self._engine = AlfredEngine()
        goal = self._engine.load(self._root / SPLITS[self._split] / key / "game.tw-pddl")
        observation = self._engine.reset()
        self._at, self._held = "", ""
        return Reset(task_id=key, instruction=goal, observation=observation, task_type=task_type_of(key))

    def _act(self, action: str) -> Outcome:
        admissible = self._engine.admissible_commands
        command = engine_command(action, admissible)
        self._last_command = (command, command not in admissible)
        observation = self._engine.step(command)
        if command in admissible:
            self._track(command)
        won = self._engine.won
        return Outcome(observation, won, won, 1.0 if won else 0.0)

    def _track(self, command: str) -> None:
        if command.startswith("go to "):
            self._at = command[6:]
        elif command.startswith("take ") and " from " in command:
            self._held = command[5:].split(" from ", 1)[0]
        elif command.startswith("move ") and " to " in command:
            self._held = ""

    def situation(self) -> str:
        if self._task is None:
            return ""
        place = f"at {self._at}" if self._at else "where you started"
        return f"You are {place} and you hold {self._held or 'nothing'}."

    @property
    def admissible_commands(self) -> list[str]:
        """The engine's currently valid commands (what ``valid_actions()`` returns)."""
        return self._engine.admissible_commands if self._engine is not None else []

    def _valid_actions(self) -> list[str] | None:
        return self.admissible_commands

    def _refused(self, action: str, outcome: Outcome) -> bool:
        return self._last_command[1]

    def _shown_action(self, action: str) -> str:
        return self._last_command[0] or action

    def _equivalent(self, action: str, valid: list[str]) -> str | None:
        # "go to X" is refused while the agent is at X; "examine X" (valid only there) shows what is at X
        if action.startswith("go to ") and f"examine {action[6:]}" in valid:
            return f"examine {action[6:]}"
        return None

    def _shutdown(self) -> None:
        self._engine = None

    def prompt_resources(self, task_type: str = "") -> PromptResources:
        kind = task_type or self.task_type or "put"
        if kind not in TASK_TYPES.values():
            raise EnvError(f"alfworld: unknown task type {kind!r} (one of: {', '.join(TASK_TYPES.values())})")
        examples = prompt_text(f"alfworld_{kind}") + "\n\n" + prompt_text("alfworld_common")
        return PromptResources(actions=prompt_text("alfworld_actions"), examples=examples)
