"""A plain progress line during long waits when output is not a terminal (pipes, CI logs, notebooks).

A terminal gets a live spinner; a pipe used to get nothing while the local model thought for minutes. The
``Heartbeat`` prints ``… still <what> · <N> s`` whenever nothing was printed for ``interval`` seconds
(``RECODE_PROGRESS_SECONDS``, default 30). ``recode run`` / ``recode resume`` and ``recode bench`` use it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

INTERVAL_ENV = "RECODE_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 30.0


def progress_interval() -> float:
    """Seconds of silence before a progress line: ``RECODE_PROGRESS_SECONDS`` (default 30); ValueError (one
    line) when it is not a number from 0.1 to 3600."""
    value = os.environ.get(INTERVAL_ENV, "").strip()
    if not value:
        return DEFAULT_INTERVAL
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{INTERVAL_ENV} must be a number of seconds, got {value!r}") from None
    if not 0.1 <= seconds <= 3600:
        raise ValueError(f"{INTERVAL_ENV} must be between 0.1 and 3600 seconds, got {value!r}")
    return seconds


class Heartbeat:
    """Says what is being waited for, and for how long, after ``interval`` seconds without output."""

    def __init__(self, say: Callable[[str], None], interval: float, what: str = "working") -> None:
        self._say, self.interval = say, interval
        self._lock = threading.Lock()
        self._what, self._since = what, time.monotonic()
        self._last = self._since
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def doing(self, what: str) -> None:
        """What the run waits for from now on (its seconds count from now)."""
        with self._lock:
            if what != self._what:
                self._what, self._since = what, time.monotonic()

    def printed(self) -> None:
        """Something was printed: the next progress line is due ``interval`` seconds from now."""
        with self._lock:
            self._last = time.monotonic()

    def start(self) -> Heartbeat:
        if self._thread is None:
            self._stopped.clear()
            self._thread = threading.Thread(target=self._run, name="recode-heartbeat", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def due(self) -> str | None:
        """The progress line, if one is due now."""
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.interval:
                return None
            self._last = now
            return f"… still {self._what} · {now - self._since:.0f} s"

    def _run(self) -> None:
        while not self._stopped.wait(min(1.0, self.interval / 4)):
            line = self.due()
            if line is not None:
                try:
                    self._say(line)
                except (OSError, ValueError):  # the pipe closed (`| head`): stop quietly
                    return
