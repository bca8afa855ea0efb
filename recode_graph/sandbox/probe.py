"""``jail_probe``: a test hook that runs plain CPython in a jailed worker (for tests of the OS jail only).

Generated code never gets here: statements are RestrictedPython in a worker, and only the host can ask a
worker for a probe. The probe shows what the jail (``recode_graph.sandbox.jail``) holds on its own, as if
RestrictedPython had been bypassed: each call starts a fresh worker, jailed exactly as statement workers are
(the jail is always on here), runs ``source`` with ``exec`` under the memory and time limits of ``limits``,
and kills the worker.
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass

from recode_graph.sandbox.restricted import Limits
from recode_graph.sandbox.workers import WorkerPool

_pool: WorkerPool | None = None
_lock = threading.Lock()


@dataclass
class ProbeResult:
    stdout: str  # what the source printed
    error: str  # "TypeName: message" of the exception that ended it, or ""

    def __str__(self) -> str:
        return self.stdout + self.error


def jail_probe(source: str, *, limits: Limits | None = None) -> ProbeResult:
    """Run plain CPython ``source`` (RestrictedPython off) in a freshly jailed worker; what it printed or the
    error. Raises ``JailUnavailable`` when the jail cannot be applied here. For tests of the jail only."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = WorkerPool(max_workers=4, prestart=0, jail="on")
            atexit.register(_pool.close)
        pool = _pool
    stdout, error = pool.probe(source, limits or Limits())
    return ProbeResult(stdout=stdout, error=error)
