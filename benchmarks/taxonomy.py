"""Error taxonomy of ALFWorld and ScienceWorld episodes from benchmark records: how episodes ended, why actions
were invalid, and how much of an episode went round in circles.

    python benchmarks/taxonomy.py benchmarks/local-1.5b benchmarks/local-1.5b-v2

For every agent folder under ``<out>/{alfworld,sciworld}-*/episodes/`` it prints one markdown row: episodes,
wins, endings (``recode_graph.bench.endings``), environment actions, the share the engine refused (ALFWorld
"Nothing happens.", ScienceWorld "No known action ..." and its other refusals; also when grounding then listed
or ran another action), repeats (an action that ran before within the last 6 steps and got the same
observation: the agent is going round in circles) and the refused actions by kind.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from recode_graph.bench.endings import describe, tally

APPLIANCE = {"heat": "microwave", "cool": "fridge", "clean": "sinkbasin"}


def kind_of(action: str, before: str, room: str) -> str:
    """Why ALFWorld refused ``action`` (``before``: the previous observation, ``room``: the first one)."""
    text = " ".join(action.lower().rstrip(".").split())
    words = text.split()
    if not words:
        return "empty"
    if text.startswith("go to "):
        place = text[6:]
        if not re.search(r"\d+$", place):
            return "go to: no number"
        if place not in room:
            return "go to: no such place"
        return "go to: already there"
    if re.match(r"take (\w+ \d+) from \1$", text):
        return "take a receptacle from itself"
    found = re.match(r"(heat|cool|clean) (.+?) with (.+)", text)
    if found:
        if not found[3].startswith(APPLIANCE[found[1]]):
            return f"{found[1]} with the wrong appliance"
        if not re.search(r"\d", found[2]) or found[2].split()[0] in (*APPLIANCE.values(), "none"):
            return f"{found[1]}: object missing or not an object"
        return f"{found[1]}: not held or not there"
    if words[0] in ("put", "move", "place"):
        return "put: object without number" if not re.match(r"\w+ \w+ \d+", text) else "put: not held / not there"
    if words[0] == "take":
        return "take: not there / hands full" if re.search(r"\d", text) else "take: no number"
    if words[0] == "examine" and ("lamp" in text or " with " in text):
        return "examine with a lamp (use the lamp)"
    return "other verb or form"


def first_observation(record: dict[str, Any]) -> str:
    """The room description: in the first prompt (ReCode: the root's variables; ReAct: the task message)."""
    if record.get("calls"):
        return str(record["calls"][0].get("user", ""))
    messages = record.get("messages") or []
    return str(messages[1].get("content", "")) if len(messages) > 1 else ""


SCIWORLD_REFUSALS = {"No known action matches that input.": "no such action or object here",
                     "Unknown action.": "unknown verb", "It's not clear how to get there from here.":
                     "go to: not next to this room", "The door is not open.": "go to: door closed",
                     "Ambiguous request": "ambiguous (several objects match)"}
LOOP_WINDOW = 6


def snapped(output: str) -> bool:
    """Grounding ran another action than the one written (its note ends the observation)."""
    lines = output.splitlines()
    return bool(lines) and "instead of" in lines[-1]


def sciworld_kind(action: str, output: str) -> str | None:
    """Why ScienceWorld refused ``action`` (None: it ran)."""
    head = output.lstrip()
    kind = next((k for prefix, k in SCIWORLD_REFUSALS.items() if head.startswith(prefix)), None)
    if kind is None and snapped(head):
        kind = "snapped to a valid action"
    if kind == "no such action or object here":
        words = action.lower().split()
        two_word_verb = action.lower().startswith(("focus", "look", "pick", "go"))  # focus on, pick up, go to
        kind = f"{' '.join(words[:2] if two_word_verb else words[:1])}: {kind}"
    return kind


def folder_table(folder: Path) -> list[str]:
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    if not records:
        return []
    sciworld = folder.parent.parent.name.startswith("sciworld")
    actions = refused = repeats = 0
    kinds: Counter[str] = Counter()
    for record in records:
        steps = [s for s in record.get("trajectory") or [] if s.get("name") in ("run", "act")]
        room = first_observation(record)
        before = ""
        recent: list[tuple[str, str]] = []
        for step in steps:
            actions += 1
            action, output = str(step["args"].get("action", "")), str(step.get("output", ""))
            repeats += (action, output) in recent
            recent = [*recent, (action, output)][-LOOP_WINDOW:]
            if sciworld:
                kind = sciworld_kind(action, output)
            elif output.startswith("Nothing happens.") or snapped(output):
                kind = kind_of(action, before, room)
            else:
                kind = None
            if kind:
                refused += 1
                kinds[kind] += 1
            before = output
    share = f"{100 * refused / actions:.0f}%" if actions else "n/a"
    loops = f"{100 * repeats / actions:.0f}%" if actions else "n/a"
    top = ", ".join(f"{k} {n}" for k, n in kinds.most_common())
    won = sum(bool(r.get("won")) for r in records)
    return [f"| {folder.parent.parent.name} | {folder.name} | {len(records)} | {won} "
            f"| {describe(tally(records))} | {actions} | {refused} ({share}) | {repeats} ({loops}) | {top} |"]


def main(argv: list[str]) -> int:
    lines = ["| run | agent | episodes | won | endings | actions | refused | repeats | refused actions by kind |",
             "|---|---|---|---|---|---|---|---|---|"]
    for out in argv or ["benchmarks/local-1.5b"]:
        for folder in sorted([*Path(out).glob("alfworld-*/episodes/*"), *Path(out).glob("sciworld-*/episodes/*")]):
            lines += [row.replace(f"| {folder.parent.parent.name} |", f"| {out}/{folder.parent.parent.name} |", 1)
                      for row in folder_table(folder)]
    print("\n".join(lines))
    return 0


if __name__ == "__main__" and "--snap" not in sys.argv:
    raise SystemExit(main(sys.argv[1:]))


def snap_coverage(out: str) -> list[str]:
    """Replays every ALFWorld episode of ``out`` without grounding and, at each refused action, asks what
    ``snap`` would have run instead: how many refused actions it turns into a valid one (the rest get the hint)."""
    from recode_graph.tools import load_environment
    from recode_graph.tools.grounding import clear_choice

    lines = []
    for folder in sorted(Path(out).glob("alfworld-*/episodes/*")):
        split = folder.parent.parent.name.split("-", 1)[1]
        env = load_environment("alfworld", split=split)
        refused = snapped = 0
        examples: Counter[str] = Counter()
        try:
            for path in sorted(folder.glob("*.json")):
                record = json.loads(path.read_text())
                env.reset(record["task_id"])
                for step in record.get("trajectory") or []:
                    if step.get("name") not in ("run", "act") or env.done:
                        continue
                    action = str(step["args"].get("action", ""))
                    valid = env.valid_actions()
                    observation = env.step(action)
                    if observation.startswith("Nothing happens."):
                        refused += 1
                        shown = " ".join(action.lower().rstrip(".").split())
                        target = shown[6:] if shown.startswith("go to ") else ""
                        choice = (f"examine {target}" if target and f"examine {target}" in valid
                                  else clear_choice(shown, valid))
                        if choice:
                            snapped += 1
                            examples[f"{shown} -> {choice}"] += 1
        finally:
            env.close()
        share = f"{100 * snapped / refused:.0f}%" if refused else "n/a"
        shown_examples = "; ".join(e for e, _ in examples.most_common(4))
        lines.append(f"| {out}/{folder.parent.parent.name} | {folder.name} | {refused} | {snapped} ({share}) "
                     f"| {shown_examples} |")
    return lines


if __name__ == "__main__" and "--snap" in sys.argv:
    print("| run | agent | refused actions | snap runs a valid action instead | most frequent |")
    print("|---|---|---|---|---|")
    for out in [a for a in sys.argv[1:] if a != "--snap"]:
        print("\n".join(snap_coverage(out)))
