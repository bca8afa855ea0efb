"""Why a sandbox worker ended, stated truthfully: a signal, the memory limit, or an exit status.

The zygote forks the workers, so only the zygote can ``wait`` for them: it reaps its children (``Reaper``,
``os.wait4``: the wait status and the peak resident memory) and answers the host's question "how did pid N
end?" over its channel. The host asks only after the worker's pidfd says it has exited, with a deadline on
both (``EXIT_SECONDS``); ``describe`` turns the answer into the statement error the repair prompt shows:
"the worker crashed (signal SIGSEGV)", "memory limit 256 MB exceeded", "the worker exited (status 3)", "blocked
system call" (``SIGSYS``: the OS jail's seccomp filter killed it), "used up its CPU time" (``SIGXCPU``).
(A worker the host kills at its time limit is reported as "timed out after N s" without asking.)
"""

from __future__ import annotations

import os
import signal
import struct
from collections import OrderedDict
from dataclasses import dataclass

EXIT_SECONDS = 2.0  # how long the host waits for an ended worker's exit status
MEMORY_SHARE = 0.75  # a crash after using this share of the memory limit is reported as near the limit
# The host's request: b"w" (fork a worker; its socket comes along) or b"s" (how did ``pid`` end?), a sequence
# number and the pid. The zygote's answer: the request's sequence number, the pid (of the new worker), the wait
# status (-1: unknown) and the peak resident memory (KB). An answer that comes after its request timed out is
# recognised by its number and skipped.
REQUEST = struct.Struct("!cIi")
ANSWER = struct.Struct("!Iiiq")
OUT_OF_MEMORY, FAILED = 86, 87  # a worker's exit status: MemoryError, another error outside the statement's code
KEEP = 1024  # exit statuses the zygote remembers (the host asks once per dead worker, at most)


class Reaper:
    """Zygote side: reaps ended workers (no zombies) and remembers how each ended, until the host asks."""

    def __init__(self) -> None:
        self.ended: OrderedDict[int, tuple[int, int]] = OrderedDict()

    def reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.ended[pid] = (status, usage.ru_maxrss)
            self.ended.move_to_end(pid)
            while len(self.ended) > KEEP:
                self.ended.popitem(last=False)

    def answer(self, number: int, pid: int) -> bytes:
        self.reap()
        status, peak_kb = self.ended.pop(pid, (-1, 0))
        return ANSWER.pack(number, pid, status, peak_kb)


@dataclass(frozen=True)
class Exit:
    """How a worker ended: its wait status (None: not learned in time) and its peak resident memory (the host
    subtracts what the worker had at start, so it is what the statements added)."""

    status: int | None
    peak_kb: int = 0
    syscall: str = ""  # the blocked system call's name, when known (a SIGSYS from the jail's seccomp filter)

    @property
    def signal(self) -> str:
        """The name of the signal that ended it ("" when it exited or is unknown)."""
        if self.status is None or not os.WIFSIGNALED(self.status):
            return ""
        number = os.WTERMSIG(self.status)
        try:
            return signal.Signals(number).name
        except ValueError:
            return f"signal {number}"

    @classmethod
    def of(cls, status: int, peak_kb: int) -> Exit:
        return cls(None if status < 0 else status, max(peak_kb, 0))


def describe(ended: Exit, memory_mb: int) -> tuple[str, str]:
    """(error type, message) for the statement a worker was running when it ended this way."""
    peak = ended.peak_kb / 1024
    if ended.status is None:
        return "WorkerError", ("the sandbox process running this statement ended; how (signal, exit status) could "
                               f"not be learned within {EXIT_SECONDS:g} s")
    name = ended.signal
    exceeded = f"memory limit {memory_mb} MB exceeded"
    if not name:
        code = os.WEXITSTATUS(ended.status)
        if code == OUT_OF_MEMORY:
            return "MemoryError", (f"{exceeded}: the sandbox process ran out of memory (after using {peak:.0f} MB). "
                                   "Keep less data in memory at once")
        why = " after an internal error" if code == FAILED else ""
        return "WorkerError", f"the sandbox process running this statement exited (status {code}){why}"
    if name == "SIGSYS":
        return "WorkerError", blocked_call(ended.syscall)
    if name == "SIGXCPU":
        return "WorkerError", ("the sandbox process used up its CPU time (the OS jail's limit per worker); the next "
                               "statement runs in a fresh one. Avoid very long computations")
    if peak >= memory_mb:
        return "MemoryError", (f"{exceeded}: the sandbox process crashed (signal {name}) after using {peak:.0f} MB. "
                               "Keep less data in memory at once")
    if peak >= MEMORY_SHARE * memory_mb:
        return "MemoryError", (f"the sandbox process crashed (signal {name}) near its memory limit ({peak:.0f} of "
                               f"{memory_mb} MB). Keep less data in memory at once")
    if name == "SIGKILL":
        return "WorkerError", (f"the sandbox process was killed from outside (signal SIGKILL) after using "
                               f"{peak:.0f} MB of its {memory_mb} MB: the machine may be short of memory")
    if name in ("SIGSEGV", "SIGBUS"):
        return "WorkerCrash", (f"the worker crashed (signal {name}) while running this statement. Deeply nested "
                               "objects (thousands of map()/zip()/filter() wrapped in one another, lists inside "
                               "lists) or deep recursion in C code overflow its stack: keep data and calls flat")
    return "WorkerCrash", f"the worker crashed (signal {name}) while running this statement"


def blocked_call(syscall: str = "") -> str:
    """The message for a worker the jail's seccomp filter killed (``SIGSYS``)."""
    which = f" ({syscall})" if syscall else (" (a call of another architecture or ABI, which the filter kills; "
                                             "other denied calls fail with a PermissionError)")
    return f"the sandbox process was stopped by the OS jail: blocked system call{which}"
