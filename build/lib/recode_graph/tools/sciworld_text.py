"""Canonical ScienceWorld observation text.

The simulator lists the objects of a room or container in an order that changes from one reset to the next
(JVM hash order), so identical action sequences can print the same state differently. ``canonical`` sorts
each run of sibling tab-indented lines (keeping every line's nested children under it); numbered choice
lists of ambiguous actions are left alone, since the numbers are what the agent answers with.
"""

from __future__ import annotations

import re

_CHOICE = re.compile(r"^\s*\d+:")


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip("\t"))


def _blocks(lines: list[str], depth: int) -> list[list[str]]:
    """Split lines into blocks: a line at ``depth`` plus the deeper lines that follow it."""
    blocks: list[list[str]] = []
    for line in lines:
        if blocks and _depth(line) > depth:
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return blocks


def _sort(lines: list[str], depth: int) -> list[str]:
    out: list[str] = []
    for block in _blocks(lines, depth):
        head, children = block[0], block[1:]
        out.append(head)
        if children:
            child_depth = _depth(children[0])
            groups = [[head2, *_sort(rest, child_depth + 1)] if rest else [head2]
                      for head2, *rest in _blocks(children, child_depth)]
            if not any(_CHOICE.match(g[0]) for g in groups):
                groups.sort(key=lambda g: "\n".join(g))
            out.extend(line for g in groups for line in g)
    return out


def canonical(observation: str) -> str:
    """The observation with sibling list items in sorted order."""
    if "\t" not in observation:
        return observation
    return "\n".join(_sort(observation.split("\n"), 0))
