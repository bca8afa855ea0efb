"""The benchmark's progress bar."""

from __future__ import annotations

from typing import Any

from recode_graph.bench.config import Record


class Progress:
    """A rich progress bar with the running mean reward (or nothing when disabled)."""

    def __init__(self, enabled: bool, title: str, total: int) -> None:
        self.bar: Any = None
        self.scores: list[float] = []
        if enabled and total:
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

    def __enter__(self) -> Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def advance(self, record: Record) -> None:
        self.scores.append(float(record.get("score") or 0.0))
        if self.bar is not None:
            mean = 100 * sum(self.scores) / len(self.scores)
            self.bar.update(self.task, advance=1, info=f"reward {mean:.1f}%  last: {record.get('status')}")
