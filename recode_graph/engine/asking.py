"""A reviewed call is shown before it is asked about.

Chat UIs draw an approval request under the thread's newest AI message (Agent Chat UI and its npm template
draw nothing under a user's or a tool's message). A node's writes are kept only when it returns, so a call
that interrupts inside the execute node could not be the newest message. Instead, when a statement's first
primitive call needs review, the statement ends there (nothing has run: no call was made yet, and the
statement's variables are not kept): the execute step writes the call's ``AIMessage`` and marks the call as
announced (``asking``), and runs the statement again, which now asks. Only the statement's first call is
announced this way (a later one would run the calls before it again), and only once per statement: if the run
again computes another call (it should not: nothing ran before it), that call is asked about as it is, and its
message is replaced by the call that runs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from recode_graph.engine.episode import ep
from recode_graph.sandbox import EpisodeStop


class AskFirst(EpisodeStop):
    """Ends a statement at a reviewed call that is not announced yet (the execute step writes its message)."""

    def __init__(self, name: str, args: Any) -> None:
        super().__init__(f"announce {name}")
        self.name, self.call_args = name, args


def marker(node: str, name: str, args: Any) -> dict[str, str]:
    """What ``asking`` holds for a call: the statement and a digest of the call as the reviewer will see it."""
    digest = hashlib.sha1(json.dumps([name, args], sort_keys=True, default=str).encode()).hexdigest()
    return {"node": node, "call": digest}


def announce_first(state: Any, chat_history: str, node: str, calls: int, name: str, args: Any) -> bool:
    """Whether this reviewed call must first be written as a message (a step of its own)."""
    if chat_history != "steps" or calls != 0:
        return False
    asking = ep(state, "asking") or {}
    return asking.get("node") != node  # once per statement: a run that computes another call is asked as it is
