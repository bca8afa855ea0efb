"""A lean ALFWorld game engine on TextWorld's PDDL machinery (no gym, no batch, no expert).

The domain and grammar come from the ``alfworld`` package (``alfworld.info``); the game file supplies the
problem and the goal text. Per engine instance we parse the grammar once and cache the PDDL→SAS translation
of recent games, so ``reset`` of an already-seen game (replay, retries) costs only a state reload.
"""

from __future__ import annotations

import json
import re
import sys
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOTHING_HAPPENS = "Nothing happens."
_GOAL_RE = re.compile(r"Your task is to: (.*?)\"")
_CACHE_SIZE = 8


@contextmanager
def _argv_kept() -> Iterator[None]:
    """fast_downward.pddl2sas overwrites sys.argv; restore it."""
    saved = list(sys.argv)
    try:
        yield
    finally:
        sys.argv[:] = saved


@dataclass(frozen=True)
class _Translation:
    task: Any  # fast_downward translate task (read-only once built)
    sas: str
    sas_replan: str
    goal: str


def _make_state(lib: Any, logic: Any, tr: _Translation) -> Any:
    """A textworld PddlState built from a cached translation (mirrors PddlState.__init__)."""
    import fast_downward
    from textworld.envs.pddl.logic import Atom, PddlState
    from textworld.logic import Proposition, Type, Variable

    state = PddlState.__new__(PddlState)
    textworld_state_init(state)
    state._logic = logic
    state.downward_lib = lib
    state.pddl_problem = ""
    state.task, state.sas, state.sas_replan = tr.task, tr.sas, tr.sas_replan
    state._actions = {a.name: a for a in tr.task.actions}
    for type_ in tr.task.types:
        try:
            logic.types.add(Type(type_.name, type_.supertype_names))
        except ValueError:
            pass
    lib.load_sas(tr.sas.encode("utf-8"))
    lib.load_sas_replan(tr.sas_replan.encode("utf-8"))
    state.name2type = {o.name: o.type_name for o in tr.task.objects}
    conditions = fast_downward.translate.pddl.conditions
    f_expression = fast_downward.translate.pddl.f_expression
    facts = []
    for atom in tr.task.init:
        if isinstance(atom, conditions.Atom) and atom.predicate != "=":
            facts.append(Proposition(atom.predicate, [Variable(a, state.name2type[a]) for a in atom.args]))
        elif isinstance(atom, f_expression.Assign) and atom.fluent.symbol != "total-cost":
            name = f"{atom.expression.value}"
            if not name.isdigit():
                args = [Variable(a, state.name2type[a]) for a in atom.fluent.args]
                facts.append(Proposition(name, args))
    state.add_facts(facts)
    atoms = (Atom * lib.get_state_size())()
    lib.get_state(atoms)
    state.add_facts([f for f in (a.get_fact(state.name2type) for a in atoms) if not f.is_negation])
    return state


def textworld_state_init(state: Any) -> None:
    """The attribute setup of textworld.logic.State.__init__ (PddlState skips calling it)."""
    from collections import Counter, defaultdict

    state._facts = defaultdict(set)
    state._vars_by_name = {}
    state._vars_by_type = defaultdict(set)
    state._var_counts = Counter()


class AlfredEngine:
    """One ALFWorld game at a time. ``load(path)`` then ``reset()``; ``step(command)``."""

    def __init__(self) -> None:
        import alfworld.info
        import fast_downward
        from textworld.envs.pddl.logic import GameLogic

        self._lib = fast_downward.load_lib()
        domain = Path(alfworld.info.ALFRED_PDDL_PATH).read_text()
        grammar = Path(alfworld.info.ALFRED_TWL2_PATH).read_text()
        self._logic = GameLogic(domain=domain, grammar=grammar)
        self._cache: OrderedDict[str, _Translation] = OrderedDict()
        self._game: _Translation | None = None
        self._state: Any = None
        self._names: dict[str, Any] = {}
        self._commands: dict[str, Any] = {}

    # -- loading ---------------------------------------------------------------------------------------
    def load(self, game_file: Path) -> str:
        """Select a game; returns its goal sentence (e.g. 'put a clean mug in desk.')."""
        key = str(game_file)
        tr = self._cache.get(key)
        if tr is None:
            tr = self._translate(game_file)
            self._cache[key] = tr
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        self._game = tr
        return tr.goal

    def _translate(self, game_file: Path) -> _Translation:
        import fast_downward

        data = json.loads(game_file.read_text())
        found = _GOAL_RE.search(data["grammar"])
        goal = found.group(1).strip() if found else ""
        with _argv_kept():
            task, sas = fast_downward.pddl2sas(self._logic.domain, data["pddl_problem"])
            _, sas_replan = fast_downward.pddl2sas(self._logic.domain, data["pddl_problem"], optimize=True)
        return _Translation(task=task, sas=sas, sas_replan=sas_replan, goal=goal)

    def reset(self) -> str:
        """Start the loaded game; returns the room description."""
        from alfworld.agents.utils.misc import Demangler
        from textworld.generator.game import EntityInfo

        if self._game is None:
            raise RuntimeError("no game loaded")
        self._state = _make_state(self._lib, self._logic, self._game)
        infos = {v.name: EntityInfo(v.name, v.type) for f in self._state.facts for v in f.arguments}
        demangler = Demangler(game_infos=infos, shuffle=False)
        for info in infos.values():
            info.name = demangler.demangle_alfred_name(info.id)
            info.definite, info.indefinite = "the", "a"
        self._names = infos
        text = self._derive("#look.feedback#", None)
        self._refresh_commands()
        return text

    # -- playing ---------------------------------------------------------------------------------------
    @property
    def won(self) -> bool:
        return bool(self._state is not None and self._state.check_goal())

    @property
    def admissible_commands(self) -> list[str]:
        return sorted(self._commands)

    def step(self, command: str) -> str:
        action = self._commands.get(command)
        if action is None:
            return NOTHING_HAPPENS
        self._state.apply(action)
        text = self._derive(action.feedback_rule, action)
        self._refresh_commands()
        return text

    def _context(self, action: Any) -> dict[str, Any]:
        mapping = action.mapping if action is not None else {}
        return {
            "state": self._state,
            "facts": list(self._state.facts),
            "variables": {ph.name: self._names[var.name] for ph, var in mapping.items()},
            "mapping": mapping,
            "entity_infos": self._names,
        }

    def _derive(self, rule: str, action: Any) -> str:
        return str(self._logic.grammar.derive(rule, self._context(action)))

    def _refresh_commands(self) -> None:
        names = {k: info.name for k, info in self._names.items()}
        commands: dict[str, Any] = {}
        for action in self._state.all_applicable_actions():
            template = self._logic.grammar.derive(action.command_template, self._context(action))
            action.command_template = template
            commands.setdefault(action.format_command(names), action)
        self._commands = commands
