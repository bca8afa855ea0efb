"""Keep ``recode serve``'s processes up: a server process that dies is started again on its port after a backoff
(1 s, doubling up to 60 s; back to 1 s once a process has stayed up for a minute), each step logged.

The dead process's runs are taken over by the others meanwhile (leases, docs/serving.md); the new process skips
the migrations (the first start ran them).
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recode_graph.serving.processes import ServerProcess, launch
from recode_graph.serving.settings import ServeSettings

FIRST_DELAY, MAX_DELAY, STABLE_SECONDS = 1.0, 60.0, 60.0


@dataclass
class Slot:
    """One server's place: its port, its current process, and its restart schedule."""

    index: int
    port: int
    started: float
    restarts: int = 0
    delay: float = FIRST_DELAY
    due: float | None = None  # when the dead process is started again
    answered: bool = True  # the current process answered /health since it started


class Supervisor:
    """Call ``tick()`` about once a second; ``servers`` (the list ``processes.stop`` stops) is kept current."""

    def __init__(self, settings: ServeSettings, servers: list[ServerProcess], ports: list[int], *, host: str,
                 log_dir: Path | None, say: Callable[[str], None], clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.settings, self.servers, self.host, self.log_dir, self.say = settings, servers, host, log_dir, say
        self.clock = clock
        self.slots = [Slot(i, port, clock()) for i, port in enumerate(ports)]

    def tick(self) -> None:
        now = self.clock()
        for slot in self.slots:
            server = self.servers[slot.index]
            if slot.due is None and server.proc.poll() is not None:
                self._died(slot, server, now)
            elif slot.due is not None and now >= slot.due:
                self._restart(slot, now)
            elif not slot.answered and _healthy(server.url):
                slot.answered = True
                self.say(f"server {slot.index}: {server.url} is back (pid {server.pid}, "
                         f"{now - slot.started:.0f} s after the restart)")

    def _died(self, slot: Slot, server: ServerProcess, now: float) -> None:
        if now - slot.started >= STABLE_SECONDS:  # it had been up a while: start over with the short delay
            slot.delay = FIRST_DELAY
        slot.due = now + slot.delay
        if server._log_file:
            server._log_file.close()
        self.say(f"server {slot.index}: {server.url} (pid {server.pid}) exited with {server.proc.returncode}; "
                 f"restarting it in {slot.delay:.0f} s (its runs are taken over by the others meanwhile)")
        slot.delay = min(MAX_DELAY, slot.delay * 2)

    def _restart(self, slot: Slot, now: float) -> None:
        log = self.log_dir / f"server-{slot.index}.log" if self.log_dir else None
        server = launch(self.settings, slot.port, host=self.host, log=log, append=True,
                        extra_env={"RUN_MIGRATIONS_ON_STARTUP": "false"})
        self.servers[slot.index] = server
        slot.restarts += 1
        slot.due, slot.started, slot.answered = None, now, False
        self.say(f"server {slot.index}: restarted on {server.url} (pid {server.pid}, restart {slot.restarts})")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False
