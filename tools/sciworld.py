"""ScienceWorld adapter (``scienceworld`` package; its simulator runs in a JVM).

Data: ``<data>/sciworld`` (the files ship with the package; ``recode data sciworld --from DIR`` installs
another copy) with the paper's splits — "seen" = ``valid_indices.json`` (194 tasks), "unseen" =
``test_indices.json`` (211), "train" = ``train_indices.json`` — and ``max_steps.json`` (per-task step limit).
Task ids are ``"<task-name>:<variation>"`` (``"task-1-boil:3"``); an int is an index into ``list_tasks()``.

One JVM per adapter instance (``-Xmx512m`` by default), started at the first reset, reused by every later
reset, stopped by ``close()`` or at interpreter exit. Steps call the simulator directly (step, score,
completion) instead of ``ScienceWorldEnv.step``, which also rebuilds the valid-action list, look and
inventory on every call; observation, score and completion are computed exactly as the package does.
Object lists in observations are put in a canonical order (``canonical_order=True``, see sciworld_text.py)
because the simulator's order varies between resets. Score 0–100 maps to 0–1; the episode is won when
the simulator reports completion with score 100.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from recode_graph.tools.adapter import BaseAdapter, Outcome
from recode_graph.tools.base import EnvError, PromptResources, Reset
from recode_graph.tools.datasets import fix_hint, locate, sample_note
from recode_graph.tools.prompting import prompt_text
from recode_graph.tools.sciworld_text import canonical

SPLITS = {"seen": "valid_indices.json", "unseen": "test_indices.json", "train": "train_indices.json"}
NO_ACTION = "No known action matches that input."


class ScienceWorldServer:
    """The simulator's Java interface with the package's step semantics, minus the per-step extras."""

    def __init__(self, xmx: str = "512m") -> None:
        from recode_graph.tools.jvm import Jvm
        from scienceworld.constants import BASEPATH, JAR_PATH

        self.jvm = Jvm(JAR_PATH, BASEPATH, [f"-Xmx{xmx}"] if xmx else [])
        self.api: Any = self.jvm.gateway.jvm.scienceworld.runtime.pythonapi.PythonInterface()

    def load(self, task_name: str, variation: int, simplifications: str, gold: bool) -> None:
        self.api.load(task_name, variation, simplifications, gold)

    def reset(self) -> tuple[str, int, bool]:
        """Back to the first move; like ``ScienceWorldEnv.reset`` the first observation is 'look around'."""
        self.api.reset()
        return self.step("look around")

    def step(self, action: str) -> tuple[str, int, bool]:
        """observation, score (0-100, may be negative), completed — as ``ScienceWorldEnv.step`` computes."""
        from py4j.protocol import Py4JJavaError

        try:
            observation = str(self.api.step(action))
        except Py4JJavaError:
            return NO_ACTION, int(round(100 * self.api.getScore())), bool(self.api.getCompleted())
        score = int(round(100 * self.api.getScore()))
        completed = bool(self.api.getCompleted()) or score < 0
        return observation, score, completed

    def task_description(self) -> str:
        return str(self.api.freeActionTaskDesc())

    def gold_actions(self) -> list[str]:
        return [str(a) for a in self.api.getGoldActionSequence()]

    def valid_actions(self) -> list[str]:
        """The simulator's valid action-object combinations in the current state."""
        return [str(a) for a in self.api.getValidActionObjectCombinations()]

    def max_variations(self, task_name: str) -> int:
        return int(self.api.getTaskMaxVariations(task_name))

    def close(self) -> None:
        self.jvm.close()


FAMILIES = {"find": "find", "lifespan": "lifespan", "power-component": "power", "chemistry-mix-paint": "paint"}
LIFESPAN_NOTE = ("Typical life spans in years: giant tortoise 150, elephant 70, parrot 60, crocodile 60, turtle 50, "
                 "brown bear 30, giraffe 25, wolf 14, beaver 10, frog 10, rabbit 9, hedgehog 5, chipmunk 3, mouse 2, "
                 "bee 1, butterfly 1, moth 1, dragonfly 0.5, ant 0.2.")


def family_of(task_type: str) -> str:
    """The prompt family of a task type, engine name or task id (``find-animal``, ``task-3-find-animal:2``
    -> ``find``); "" for the types that get the generic example."""
    name = re.sub(r"^task-\d+a?-", "", task_type.rpartition(":")[0] or task_type)
    return next((family for prefix, family in FAMILIES.items() if name.startswith(prefix)), "")


def _instruction(description: str) -> str:
    text = description.strip()
    return text.split(":", 1)[1].strip() if text.lower().startswith("task description:") else text


class ScienceWorld(BaseAdapter):
    """ScienceWorld tasks; one JVM per instance, reused across resets."""

    name = "sciworld"
    default_step_limit = 100

    def __init__(self, split: str = "unseen", data_dir: str | Path | None = None,
                 step_limit: int | None = None, simplifications: str = "", xmx: str = "512m",
                 gold_path: bool = False, canonical_order: bool = True, grounding: str = "off") -> None:
        super().__init__(step_limit=step_limit, split=split, data_dir=data_dir,
                         simplifications=simplifications, xmx=xmx, gold_path=gold_path,
                         canonical_order=canonical_order, grounding=grounding)
        self._canonical = canonical_order
        if split not in SPLITS:
            raise EnvError(f"sciworld: unknown split {split!r} (split= one of: {', '.join(SPLITS)})")
        self._split = split
        self.data = locate("sciworld", data_dir)
        self.data_note = sample_note("sciworld", self.data)
        self._root = self.data.path
        self._simplifications = simplifications
        self._xmx = xmx
        self._gold_on_load = gold_path
        self._max_steps: dict[str, int] = json.loads((self._root / "max_steps.json").read_text())
        self._listing: dict[str, list[str]] = {}
        self._server: ScienceWorldServer | None = None
        self._loaded: tuple[str, int, bool] | None = None  # (engine task name, variation, with gold path)
        self._gold: list[str] | None = None
        self._task_name = ""

    # -- tasks ---------------------------------------------------------------------------------------
    def list_tasks(self, split: str | None = None) -> list[str]:
        split = split or self._split
        if split not in SPLITS:
            raise EnvError(f"sciworld: unknown split {split!r} (one of: {', '.join(SPLITS)})")
        if split not in self._listing:
            path = self._root / SPLITS[split]
            if not path.is_file():
                raise EnvError(f"sciworld: split file {path} not found: {fix_hint('sciworld')}")
            self._listing[split] = [f"{name}:{var}" for name, var in json.loads(path.read_text())]
        return list(self._listing[split])

    def _resolve(self, task_id: str | int) -> tuple[str, int]:
        if isinstance(task_id, int) or str(task_id).isdigit():
            tasks = self.list_tasks()
            index = int(task_id)
            if not 0 <= index < len(tasks):
                raise EnvError(f"sciworld: task index {index} not in 0..{len(tasks) - 1} ({self._split})")
            task_id = tasks[index]
        name, sep, var = str(task_id).rpartition(":")
        if not sep or not var.isdigit() or name not in self._max_steps:
            raise EnvError(f"sciworld: unknown task id {task_id!r} (expected '<task-name>:<variation>', "
                           "e.g. 'task-1-boil:0')")
        return name, int(var)

    def _task_step_limit(self) -> int:
        return self._max_steps.get(self._task_name, self.default_step_limit)

    # -- episode -------------------------------------------------------------------------------------
    @property
    def server(self) -> ScienceWorldServer:
        """The simulator (the JVM starts on first use)."""
        if self._server is None:
            self._server = ScienceWorldServer(self._xmx)
        return self._server

    @property
    def jvm_pid(self) -> int | None:
        return self._server.jvm.pid if self._server is not None else None

    def _start(self, task_id: str | int) -> Reset:
        from scienceworld.utils import infer_task

        name, variation = self._resolve(task_id)
        engine_name = infer_task(name)
        server = self.server
        if self._loaded is None or self._loaded[:2] != (engine_name, variation):
            limit = server.max_variations(engine_name)
            if not 0 <= variation < limit:
                raise EnvError(f"sciworld: task {name!r} has variations 0..{limit - 1}, not {variation}")
            server.load(engine_name, variation, self._simplifications, self._gold_on_load)
            self._loaded = (engine_name, variation, self._gold_on_load)
            self._gold = None
        self._task_name = name
        observation, _, _ = server.reset()
        return Reset(task_id=f"{name}:{variation}", instruction=_instruction(server.task_description()),
                     observation=self._text(observation), task_type=engine_name)

    def _text(self, observation: str) -> str:
        return canonical(observation) if self._canonical else observation

    def _act(self, action: str) -> Outcome:
        observation, score, completed = self.server.step(action)
        won = completed and score >= 100
        return Outcome(self._text(observation), completed, won, max(0, score) / 100)

    def _valid_actions(self) -> list[str] | None:
        return self.server.valid_actions()

    def _refused(self, action: str, outcome: Outcome) -> bool:
        # "Unknown action." answers the input that follows an "Ambiguous request" that was not a number
        return outcome.observation == NO_ACTION or outcome.observation.startswith("Unknown action.")

    def gold_actions(self) -> list[str]:
        """A gold action sequence for the current task (generating it reloads the task: may take seconds).

        The episode state is kept: the actions taken so far are re-applied after the reload.
        """
        if self._loaded is None:
            raise EnvError("sciworld: call reset(task_id) before gold_actions()")
        if self._gold is None:
            engine_name, variation, with_gold = self._loaded
            server = self.server
            if not with_gold:
                server.load(engine_name, variation, self._simplifications, True)
                self._loaded = (engine_name, variation, True)
                server.reset()
                for action in self._actions:
                    server.step(action)
            self._gold = server.gold_actions()
        return list(self._gold)

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        self._server = None
        self._loaded = None

    def prompt_resources(self, task_type: str = "") -> PromptResources:
        """The action grammar and house map, and the few-shot expansions of the task's family (find, lifespan,
        power, paint; the generic example for the others) with the shared ``walk_to`` expansion."""
        family = family_of(task_type or self._task_name)
        examples = prompt_text(f"sciworld_{family}" if family else "sciworld_examples")
        notes = LIFESPAN_NOTE if family == "lifespan" else ""
        return PromptResources(actions=prompt_text("sciworld_actions"),
                               examples=examples + "\n\n" + prompt_text("sciworld_common"), notes=notes)
