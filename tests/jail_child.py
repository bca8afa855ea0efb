"""A host process for the jail tests, run as another user (``tests/test_jail_host.py``): a non-root host.

    python jail_child.py attempts   < {"jail": "on"|"off", "attempts": {name: body}}   -> JSON {name: [stdout, error]}
    python jail_child.py outlive                                                        -> prints the worker's pid

``attempts``: makes its own targets (as this user: a private key file, a private SysV shared memory segment,
a secret file), runs each body with ``PREAMBLE`` (``T`` = the targets) in a fresh worker of a pool with that
jail mode, prints what each printed and the error that ended it, plus ``"key mode"`` (the key file's mode
afterwards) and ``"report"`` (the layers). ``outlive``: starts a jailed worker that tries to clear its
parent-death signal and then sleeps, prints its pid on the host, and sleeps itself (the test kills it).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from typing import Any

from recode_graph.sandbox.restricted import Limits
from recode_graph.sandbox.workers import WorkerPool

PREAMBLE = "import os, socket, signal, resource, ctypes\nT = {targets!r}\nSECRET = {secret!r}\n"
IPC_CREAT, IPC_RMID = 0o1000, 0
OUTLIVE = ("import ctypes, signal, time\nctypes.CDLL(None).prctl(1, 0, 0, 0, 0)\n"
           "signal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(600)")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = ctypes.c_void_p


def shm_segment(key: int, secret: str, mode: int) -> int:
    """A SysV shared memory segment of the calling user holding ``secret``; returns its id."""
    shm = _libc.shmget(key, 4096, IPC_CREAT | mode)
    if shm < 0:
        raise OSError(ctypes.get_errno(), "shmget")
    address = _libc.shmat(shm, None, 0)
    ctypes.memmove(address, secret.encode(), len(secret))
    _libc.shmdt(ctypes.c_void_p(address))
    return shm


def remove_segment(shm: int) -> None:
    _libc.shmctl(shm, IPC_RMID, None)


def make_targets(secret: str) -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix="recode-jail-host-")
    os.chmod(folder, 0o755)
    key = os.path.join(folder, "id_ed25519")
    with open(key, "w") as out:
        out.write(secret)
    os.chmod(key, 0o600)
    shm_key = int(uuid.uuid4().int % 2**30) + 1
    return {"folder": folder, "key": key, "host": os.getpid(), "shm_key": shm_key,
            "shm_id": shm_segment(shm_key, secret, 0o600), "outside": os.path.join(folder, "written.txt")}


def attempts(request: dict[str, Any]) -> dict[str, Any]:
    secret = f"sk-test-{uuid.uuid4().hex}"
    targets = make_targets(secret)
    out: dict[str, Any] = {}
    os.chdir(targets["folder"])  # an unjailed worker works in the host's directory
    try:
        with WorkerPool(max_workers=1, prestart=0, jail=request["jail"]) as pool:
            for name, body in request["attempts"].items():
                source = PREAMBLE.format(targets=targets, secret=secret) + body
                out[name] = list(pool.probe(source, Limits(max_seconds=20, max_memory_mb=256)))
            report = pool.jail_report
            out["report"] = [report.layers, report.missing] if report else None
        out["key mode"] = oct(os.stat(targets["key"]).st_mode & 0o777)
    finally:
        remove_segment(targets["shm_id"])
        shutil.rmtree(targets["folder"], ignore_errors=True)
    return out


def outlive() -> None:
    pool = WorkerPool(max_workers=1, prestart=0, jail="on")
    handle = pool._start()
    handle.conn.send(("probe", {"source": OUTLIVE, "limits": Limits(max_seconds=600)}))
    time.sleep(0.5)  # the worker is in its sleep
    print(handle.pid, flush=True)
    time.sleep(600)


if __name__ == "__main__":
    if sys.argv[1] == "attempts":
        print(json.dumps(attempts(json.load(sys.stdin))))
    else:
        outlive()
