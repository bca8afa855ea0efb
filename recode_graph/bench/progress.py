"""The benchmark's progress: a rich bar on a terminal, plain lines elsewhere (pipes, CI logs, notebooks).

Plain output gets a line per finished episode and, while episodes run, ``… still <what> · <N> s`` after
every ``RECODE_PROGRESS_SECONDS`` (default 30) without output.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from recode_graph.bench.config import BenchError, Record
from recode_graph.cli.heartbeat import Heartbeat, progress_interval


class Progress:
    """A rich progress bar with the running mean reward on a terminal, plain lines otherwise (or nothing when
    disabled)."""

    def __init__(self, enabled: bool, title: str, total: int, out: TextIO | None = None) -> None:
        self.bar: Any = None
        self.heartbeat: Heartbeat | None = None
        self.scores: list[float] = []
        self.title, self.total, self.out = title, total, out or sys.stdout
        self.started = time.monotonic()
        self._lock = threading.Lock()
        if not (enabled and total):
            return
        if not self.out.isatty():
            try:
                interval = progress_interval()
            except ValueError as exc:
                raise BenchError(str(exc)) from None
            self.heartbeat = Heartbeat(self.say, interval, self._waiting())
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
        self.task = self.bar.add_task(title, total=total, info="")

    def _waiting(self) -> str:
        done = len(self.scores)
        what = "the model to start and the first episode" if not done else f"episode {done + 1}"
        return f"waiting for {what} ({self.title}: {done} of {self.total} done)"

    def say(self, text: str) -> None:
        with self._lock:
            print(text, file=self.out, flush=True)
        if self.heartbeat is not None:
            self.heartbeat.printed()

    def __enter__(self) -> Progress:
        if self.bar is not None:
            self.bar.start()
        if self.heartbeat is not None:
            self.say(f"{self.title}: {self.total} episodes to run")
            self.heartbeat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
        if self.heartbeat is not None:
            self.heartbeat.stop()

    def advance(self, record: Record) -> None:
        self.scores.append(float(record.get("score") or 0.0))
        mean = 100 * sum(self.scores) / len(self.scores)
        if self.bar is not None:
            self.bar.update(self.task, advance=1, info=f"reward {mean:.1f}%  last: {record.get('status')}")
        if self.heartbeat is not None:
            self.say(f"{self.title}: {len(self.scores)} of {self.total} done, reward {mean:.1f}%, last "
                     f"{record.get('status')} in {float(record.get('wall_seconds') or 0):.0f} s "
                     f"({time.monotonic() - self.started:.0f} s in all)")
            self.heartbeat.doing(self._waiting())
