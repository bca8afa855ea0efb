"""Threads checkpointed by the release before the ``episode`` channel (tests/data/old_layout.sqlite.gz).

That release kept each control value (cursor, pending, proposal, next_id, session, ...) in a top-level channel of
its own, and asked for a placeholder's expansion in an execute step of its own. The file holds three threads it
left paused, which ``tests/test_graph_loop.py`` resumes with this code:

- ``placeholder``: right after the root's expansion: the cursor on the placeholder ``s = helper(1)``, no request;
- ``midway``: after the statement ``s = add(1, 2)`` ran, the cursor on the next one;
- ``review``: waiting for a person to approve the helper's expansion (approve="expansions").

Made with the code of commit 9ee989d (main before the fold), from the repository's root:

    git worktree add /tmp/before 9ee989d && cd /tmp/before && python /path/to/tests/old_layout.py

(a gzipped SQLite file: small, and ``*.sqlite`` is ignored by git). ``restore`` unpacks it for a test.
"""

from __future__ import annotations

import gzip
import sqlite3
import sys
from pathlib import Path
from typing import Any

from langchain_core.tools import tool
from langgraph.types import Command

from recode_graph import ScriptedChatModel, create_recode_agent, expansion

FIXTURE = Path(__file__).resolve().parent / "data" / "old_layout.sqlite.gz"
APPROVE = Command(resume={"decisions": [{"type": "approve"}]})


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def model() -> ScriptedChatModel:
    return ScriptedChatModel(by_call={"solve": expansion("", "s = helper(1)\nfinal_answer(str(s))"),
                                      "helper": expansion("", "s = add(1, 2)\ns = add(s, 0)")})


def agent(saver: Any, **options: Any) -> Any:
    return create_recode_agent(model(), tools=[add], checkpointer=saver, **options)


def config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def restore(path: Path) -> Path:
    """The fixture unpacked at ``path`` (a SQLite file to open with ``sqlite_saver``)."""
    path.write_bytes(gzip.decompress(FIXTURE.read_bytes()))
    return path


def make(out: Path) -> None:
    from recode_graph.persistence.checkpointers import sqlite_saver

    path = out.with_suffix("")  # the SQLite file, gzipped to `out` at the end
    path.unlink(missing_ok=True)
    saver = sqlite_saver(path)
    agent(saver, interrupt_after=["expand"]).invoke({"instruction": "x"}, config("placeholder"))
    paused = agent(saver, interrupt_after=["execute"])
    for _ in range(2):  # the placeholder's own execute step, then `s = add(1, 2)`
        paused.invoke({"instruction": "x"} if _ == 0 else None, config("midway"))
    reviewed = agent(saver, approve="expansions")
    reviewed.invoke({"instruction": "x"}, config("review"))  # the root's expansion: approved
    reviewed.invoke(APPROVE, config("review"))  # now waiting on the helper's
    saver.conn.close()
    small = sqlite3.connect(path)  # a smaller file: no WAL, small pages
    small.execute("PRAGMA journal_mode=DELETE")
    small.execute("PRAGMA page_size=512")
    small.execute("VACUUM")
    small.close()
    out.write_bytes(gzip.compress(path.read_bytes(), 9, mtime=0))
    path.unlink()


if __name__ == "__main__":
    make(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURE)
