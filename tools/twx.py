"""TextWorldExpress adapter (``textworld-express``): fast text games with gold paths.

No data files: games are generated from (game, seed). Task ids are ``"<game>:<seed>"`` (``"coin:20003"``);
an int is an index into ``list_tasks()``. Seeds 0–999 are the train fold, 10000–10999 dev, 20000–20999 test;
``list_tasks(split)`` lists the first ``tasks_per_game`` seeds of that fold for each configured game.
The engine runs in a small JVM (one per adapter instance, started at the first reset, closed by ``close()``
or at exit). Won = the game's task-success flag; score is the game's normalised score (0–1).
"""

from __future__ import annotations

import weakref
from typing import Any

from recode_graph.tools.adapter import BaseAdapter, Outcome
from recode_graph.tools.base import EnvError, PromptResources, Reset
from recode_graph.tools.prompting import prompt_text

GAMES = ("coin", "cookingworld", "twc", "mapreader", "arithmetic", "sorting", "simonsays", "peckingorder")
DEFAULT_GAMES = ("coin", "cookingworld", "twc", "mapreader", "arithmetic", "sorting")
# Smaller kitchens than the engine default (whose gold paths can exceed 50 steps); override with game_params=.
DEFAULT_PARAMS = {
    "cookingworld": "numLocations=3,numIngredients=2,numDistractorItems=3,includeDoors=1,"
    "limitInventorySize=0",
}
FOLDS = {"train": 0, "dev": 10000, "test": 20000}
FOLD_SIZE = 1000


def fold_of(seed: int) -> str:
    for fold, start in FOLDS.items():
        if start <= seed < start + FOLD_SIZE:
            return fold
    raise EnvError(f"twx: seed {seed} is in no fold (train 0-999, dev 10000-10999, test 20000-20999)")


class TextWorldExpress(BaseAdapter):
    """TextWorldExpress games; one JVM per instance, reused across resets."""

    name = "twx"
    default_step_limit = 50

    def __init__(self, games: tuple[str, ...] | list[str] = DEFAULT_GAMES, split: str = "test",
                 tasks_per_game: int = 20, game_params: dict[str, str] | None = None,
                 step_limit: int | None = None, grounding: str = "off") -> None:
        super().__init__(step_limit=step_limit, games=tuple(games), split=split,
                         tasks_per_game=tasks_per_game, game_params=dict(game_params or {}), grounding=grounding)
        unknown = [g for g in games if g not in GAMES]
        if unknown:
            raise EnvError(f"twx: unknown game(s) {', '.join(unknown)} (games= from: {', '.join(GAMES)})")
        if split not in FOLDS:
            raise EnvError(f"twx: unknown split {split!r} (split= one of: {', '.join(FOLDS)})")
        self._games = tuple(games)
        self._split = split
        self._per_game = tasks_per_game
        self._params = {**DEFAULT_PARAMS, **(game_params or {})}
        self._env: Any = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._loaded: tuple[str, int] | None = None
        self._valid: list[str] = []  # the engine's valid actions in the current state
        self._last_refused = False

    def list_tasks(self, split: str | None = None) -> list[str]:
        split = split or self._split
        if split not in FOLDS:
            raise EnvError(f"twx: unknown split {split!r} (one of: {', '.join(FOLDS)})")
        start = FOLDS[split]
        return [f"{game}:{start + i}" for game in self._games for i in range(self._per_game)]

    def _resolve(self, task_id: str | int) -> tuple[str, int]:
        if isinstance(task_id, int) or str(task_id).isdigit():
            tasks = self.list_tasks()
            index = int(task_id)
            if not 0 <= index < len(tasks):
                raise EnvError(f"twx: task index {index} out of range 0..{len(tasks) - 1}")
            task_id = tasks[index]
        game, sep, seed = str(task_id).partition(":")
        if not sep or game not in GAMES or not seed.isdigit():
            raise EnvError(f"twx: unknown task id {task_id!r} (expected '<game>:<seed>', e.g. 'coin:20000')")
        fold_of(int(seed))
        return game, int(seed)

    def _engine(self) -> Any:
        if self._env is None:
            from textworld_express import TextWorldExpressEnv

            self._env = TextWorldExpressEnv(envStepLimit=10**6)
            self._finalizer = weakref.finalize(self, self._env.close)
        return self._env

    def _start(self, task_id: str | int) -> Reset:
        game, seed = self._resolve(task_id)
        env = self._engine()
        params = self._params.get(game, "")
        observation, infos = env.reset(seed=seed, gameFold=fold_of(seed), gameName=game, gameParams=params,
                                       generateGoldPath=True)
        self._loaded = (game, seed)
        self._valid = [str(a) for a in infos.get("validActions", [])]
        return Reset(task_id=f"{game}:{seed}", instruction=str(infos["taskDescription"]).strip(),
                     observation=str(observation), task_type=game)

    def _act(self, action: str) -> Outcome:
        self._last_refused = action.lower() not in {a.lower() for a in self._valid}
        observation, _, done, infos = self._env.step(action)
        self._valid = [str(a) for a in infos.get("validActions", [])]
        won = bool(infos.get("tasksuccess"))
        return Outcome(str(observation), bool(done) or won, won, float(infos.get("score", 0.0)))

    def _valid_actions(self) -> list[str] | None:
        return list(self._valid)

    def _refused(self, action: str, outcome: Outcome) -> bool:
        return self._last_refused

    def gold_actions(self) -> list[str]:
        """The game's gold action sequence for the current task."""
        if self._loaded is None:
            raise EnvError("twx: call reset(task_id) before gold_actions()")
        return [str(a) for a in self._env.getGoldActionSequence()]

    def _shutdown(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._env = self._finalizer = self._loaded = None

    def prompt_resources(self, task_type: str = "") -> PromptResources:
        return PromptResources(actions=prompt_text("twx_actions"), examples=prompt_text("twx_examples"))
