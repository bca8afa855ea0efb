"""Action grounding: what an environment that knows its valid actions does with an invalid one.

Modes (the ``grounding=`` option of the adapters, ``--grounding`` of ``recode run`` / ``recode bench``):

- ``off``: the engine's own answer ("Nothing happens.", "No known action matches that input."): the
  paper's behaviour.
- ``hint``: the observation also says the action was not valid and lists the closest valid actions now.
- ``snap``: when one valid action is clearly the closest (it contains every word of the action, e.g.
  ``go to fridge`` → ``go to fridge 1``, and no other such action is as close) that action runs instead,
  and the observation says which; otherwise as ``hint``.
- ``fail``: the observation as ``hint``, and in generated code ``run(action)`` raises ``ValueError`` with it:
  the statement that sent the action fails and is repaired where the mistake is, instead of the plan running
  on in a state it did not expect (agents without code, such as ReAct, see it as ``hint``). A builtin
  exception, not a class of our own: a small model that read a new class name in the prompt wrote
  ``raise InvalidAction(...)``, a call of an undefined function, which is an invalid answer.

Closeness is word overlap (Dice coefficient over word multisets, digits split from letters) with a bonus for
the same verb, ties broken by character similarity and then alphabetically, so the result is deterministic:
a replay of the same actions grounds them the same way.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any

GROUNDING_MODES = ("off", "hint", "snap", "fail")
DEFAULT_GROUNDING = "off"  # `recode run` / `recode bench`, as the adapters: the paper's behaviour. With the local
# 1.5B on 24 ALFWorld unseen games `snap` won as often as `off` (10 each) for 18% more input tokens
# (benchmarks/README.md, issue 15), so it is a choice, not the default.
HINT_COUNT = 5
_WORD = re.compile(r"[a-z]+|\d+")
_VERB_BONUS = 0.25
FILLERS = frozenset({"a", "an", "the", "to", "in", "on", "into", "onto", "from", "with", "at", "of", "up"})

VALID_ACTIONS_DOC = ("- valid_actions(): the list of actions that are valid right now (exact strings for "
                     "run); use it to find the exact name of a place or an object.")
NOTES = {
    "hint": "An action that is not valid now returns a note with the closest valid actions; use one of them.",
    "snap": "An action that is not valid now runs the one clearly closest valid action instead (the observation "
            "says so); when no valid action is clearly closest, the note lists the closest ones.",
    "fail": "An action that is not valid now makes run() raise ValueError with the closest valid actions, and "
            "that step is written again: use an exact valid action.",
}
PLAIN_NOTES = {**NOTES, "fail": NOTES["hint"]}  # agents that do not run code: a refused action is a note


def step_noting_refusal(env: Any, action: str) -> tuple[str, bool]:
    """``env.step(action)``: its observation, and whether the environment refused the action (its list of
    refused actions grew; an environment that does not keep one refuses nothing)."""
    before = len(getattr(env, "refused_actions", ()))
    observation = env.step(action)
    return observation, len(getattr(env, "refused_actions", ())) > before


def check_refusal(mode: str, refused: bool, action: str, observation: str) -> None:
    """Under grounding ``fail``, a refused action raises ``ValueError`` in the code that sent it."""
    if mode == "fail" and refused:
        raise ValueError(f"the action {action!r} was refused: {' '.join(observation.split())[:600]}")


def check_mode(mode: object) -> str:
    """``mode`` when it is a grounding mode; otherwise a ``ValueError`` naming the modes (fails closed)."""
    if not isinstance(mode, str) or mode not in GROUNDING_MODES:
        raise ValueError(f"grounding must be one of {', '.join(GROUNDING_MODES)}, got {mode!r}")
    return mode


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _dice(a: Counter[str], b: Counter[str]) -> float:
    total = sum(a.values()) + sum(b.values())
    return 2 * sum((a & b).values()) / total if total else 0.0


def score(action: str, candidate: str) -> float:
    """Closeness of ``candidate`` to ``action`` (higher is closer)."""
    aw, cw = words(action), words(candidate)
    bonus = _VERB_BONUS if aw and cw and aw[0] == cw[0] else 0.0
    return _dice(Counter(aw), Counter(cw)) + bonus


def closest(action: str, valid: Sequence[str], count: int = HINT_COUNT) -> list[str]:
    """The ``count`` valid actions closest to ``action``, closest first (those sharing a word with it when
    there are any)."""
    scored = sorted(((score(action, c), c) for c in sorted(set(valid))), key=lambda t: -t[0])
    mine = set(words(action))
    scored = [t for t in scored if mine & set(words(t[1]))] or scored
    head = scored[: max(count * 4, 20)]  # character similarity only for the front runners
    text = action.lower()
    head.sort(key=lambda t: (-round(t[0], 9), -SequenceMatcher(None, text, t[1].lower()).ratio(), t[1]))
    return [c for _, c in head[:count]]


def clear_choice(action: str, valid: Sequence[str]) -> str | None:
    """The one valid action that is clearly the closest to ``action``, or None when there is none or a tie.

    A candidate must contain every word (and number) of the action and add only numbers or small
    function words (``go to fridge`` → ``go to fridge 1``, ``open door kitchen`` → ``open door to kitchen``),
    so a missing number or preposition is filled in but another object is never substituted; it must also
    be the only such candidate with the highest score.
    """
    need = Counter(words(action))
    if not need:
        return None
    fits = []
    for candidate in dict.fromkeys(valid):
        have = Counter(words(candidate))
        extra = have - need
        if not need - have and all(w.isdigit() or w in FILLERS for w in extra):
            fits.append((score(action, candidate), candidate))
    if not fits:
        return None
    fits.sort(key=lambda t: -t[0])
    if len(fits) > 1 and fits[0][0] - fits[1][0] < 1e-9:
        return None
    return fits[0][1]


def hint_text(action: str, valid: Sequence[str], count: int = HINT_COUNT, first: str | None = None) -> str:
    near = closest(action, valid, count)
    if first is not None:
        near = [first, *(c for c in near if c != first)][:count]
    if not near:
        return f'"{action}" is not a valid action now, and no action is valid at the moment.'
    shown = ", ".join(f'"{c}"' for c in near)
    return f'"{action}" is not a valid action now. Closest valid actions: {shown}.'


def snap_note(action: str, chosen: str) -> str:
    return f'(Ran "{chosen}" instead of "{action}", which is not a valid action now.)'


def mode_of(env: object) -> str:
    """The grounding mode of an environment adapter ('off' for one without the option)."""
    mode = getattr(env, "grounding", "off")
    return mode if isinstance(mode, str) and mode in GROUNDING_MODES else "off"


def prompt_note(env: object, code: bool) -> str:
    """What the prompt says about grounding: the observation behaviour and, for code agents, the
    ``valid_actions()`` primitive. Empty when grounding is off (the paper's prompt)."""
    mode = mode_of(env)
    if mode == "off":
        return ""
    return "\n".join([VALID_ACTIONS_DOC] if code else []) + ("\n" if code else "") + (NOTES if code else
                                                                                        PLAIN_NOTES)[mode]
