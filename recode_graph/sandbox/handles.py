"""Worker processes seen from the host: the zygote that forks them (a fresh, jailed-before-use interpreter) and
the handle of one worker (its channel, its deadlines, how it ended). ``workers.WorkerPool`` hands them out."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pickle
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from recode_graph.sandbox import exits, wire
from recode_graph.sandbox import jail as _jail

START_SECONDS = 10.0  # a worker (or the zygote) that has not answered by then is lost
READ_SLACK = 0.05  # seconds a read from a worker may stall past its statement's deadline (the grace is 0.5 s)
log = logging.getLogger("recode_graph.sandbox")


class WorkerDied(Exception):
    pass


# Run by ``python -s -P -c`` in the zygote: read the host's import path from the control socket (length-prefixed
# JSON: it can be larger than one argv string may be, 128 KB), drop the hash seed from the environment the
# workers inherit, and serve.
_BOOT = """
import json, os, sys
fd = int(sys.argv[1])
def read(n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise SystemExit(0)
        data += chunk
    return data
sys.path[:0] = json.loads(read(int.from_bytes(read(8), "big")))
os.environ.pop("PYTHONHASHSEED", None)
from recode_graph.sandbox.zygote import zygote
zygote(fd, sys.argv[2], sys.argv[3])
"""


HASH_SEEDS = 4  # distinct seeds threads are spread over (a zygote each); changing it changes every thread's orders


def hash_seed(thread: str) -> int:
    """The string-hash seed (``PYTHONHASHSEED``) of a thread's workers: fixed for the thread, so set orders in its
    statements repeat in any process (on resume, on another server process). Threads are spread over
    ``HASH_SEEDS`` seeds: a seed needs a zygote of its own (an interpreter start, ~0.15 s of CPU), and a per-thread
    seed would cost that for every new thread; randomizing the hash protects nothing inside a worker (the code
    there may burn its own time anyway), so fewer distinct seeds lose nothing."""
    digest = hashlib.sha256(f"recode-hash-seed|{thread}".encode("utf-8", "surrogatepass")).digest()
    bucket = int.from_bytes(digest[:8], "big") % HASH_SEEDS
    return int.from_bytes(hashlib.sha256(f"recode-hash-seed-{bucket}".encode()).digest()[:4], "big") % (2**32 - 1) + 1


class _Zygote:
    """The process that forks workers (``recode_graph.sandbox.zygote``), started with ``python -s -P -c``
    (isolated as with ``-I``, but reading ``PYTHONHASHSEED``) and an environment that holds nothing but the seed
    (the zygote drops it too): a fresh interpreter, so nothing of the host (threads, locks, the ``__main__`` script,
    environment variables such as API keys) is copied or re-run. ``seed``: the string-hash seed of the
    interpreter and so of every worker it forks (None: a random one); it can only be set when an interpreter
    starts, hence a zygote per seed. ``tmp_root`` holds each worker's private temporary directory (the workers'
    uids may pass it, not list it)."""

    def __init__(self, mode: str, seed: int | None = None) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.seed = seed
        self.users = 0  # the pool's: forks about to be asked of it (it is not closed meanwhile)
        self.tmp_root = tempfile.mkdtemp(prefix="recode-jail-")
        os.chmod(self.tmp_root, 0o711)
        path = json.dumps([p for p in sys.path if p and os.path.isabs(p)]).encode("utf-8", "surrogatepass")
        env = {} if seed is None else {"PYTHONHASHSEED": str(seed)}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-s", "-P", "-c", _BOOT, str(theirs.fileno()), mode, self.tmp_root],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env, close_fds=True)
        except BaseException:
            shutil.rmtree(self.tmp_root, ignore_errors=True)
            ours.close()
            raise
        finally:
            theirs.close()
        ours.settimeout(START_SECONDS)  # every read and write has a deadline
        self.control = ours
        try:
            ours.sendall(len(path).to_bytes(8, "big") + path)
        except OSError:
            self.close()
            raise
        self.lock = threading.Lock()
        self._number = 0  # of the last request (answers carry it)

    def fork(self) -> tuple[int, socket.socket]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self.lock:
                number = self._next()
                socket.send_fds(self.control, [exits.REQUEST.pack(b"w", number, 0)], [theirs.fileno()])
                pid = self._answer(number)[0]
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return pid, ours

    def exit_of(self, pid: int) -> exits.Exit:
        """How worker ``pid`` (which has exited) ended; the status is unknown when the zygote does not answer
        within ``exits.EXIT_SECONDS``."""
        if not self.lock.acquire(timeout=exits.EXIT_SECONDS):  # another request waits for a stuck zygote
            return exits.Exit(None)
        try:
            self.control.settimeout(exits.EXIT_SECONDS)
            try:
                number = self._next()
                self.control.sendall(exits.REQUEST.pack(b"s", number, pid))
                _, status, peak_kb = self._answer(number)
                return exits.Exit.of(status, peak_kb)
            finally:
                self.control.settimeout(START_SECONDS)
        except OSError:
            return exits.Exit(None)
        finally:
            self.lock.release()

    def _next(self) -> int:
        self._number = (self._number + 1) % 2**32
        return self._number

    def _answer(self, number: int) -> tuple[int, int, int]:
        """The zygote's answer to request ``number`` (pid, status, peak KB), skipping answers to requests that
        timed out before; raises ``OSError`` (a ``TimeoutError``) past the channel's deadline."""
        while True:
            data = b""
            while len(data) < exits.ANSWER.size:
                chunk = self.control.recv(exits.ANSWER.size - len(data))
                if not chunk:
                    raise OSError("the sandbox zygote has ended")
                data += chunk
            answered, pid, status, peak_kb = exits.ANSWER.unpack(data)
            if answered == number:
                return pid, status, peak_kb

    def close(self) -> None:
        try:
            self.control.close()
        except OSError:
            pass
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.tmp_root, ignore_errors=True)


class _Handle:
    """One worker process, the host's end of its pipe and the jail layers it reported."""

    def __init__(self, zygote: _Zygote) -> None:
        self.zygote = zygote
        self.pid, sock = zygote.fork()
        self.pidfd = os.pidfd_open(self.pid)
        self._socket = sock  # kept for its options (the read deadline); the Connection owns a duplicate
        self.conn = Connection(os.dup(sock.fileno()))
        self.tmp = os.path.join(zygote.tmp_root, str(self.pid))
        self.runs = 0
        self.memory_mb = 0  # the worker's memory limit, soft and hard (0: not set yet)
        self.run: str | None = None  # the one run it serves (None: not used yet)
        self.sent: tuple[str, dict[str, Any]] | None = None  # (token, variables) the worker holds of its run
        self.limits: tuple[Any, Any] = (None, None)  # (the Limits last sent, their fields: what a request carries)
        self._dead = False
        self._waiting = select.poll()  # one poll object per worker (not a selector built per wait)
        self._waiting.register(self.conn.fileno(), select.POLLIN)
        self._read_for = 0.0  # the read timeout set on the socket (seconds)
        try:
            if not self.conn.poll(START_SECONDS):
                raise OSError("the sandbox process did not start in time")
            self.read_deadline(START_SECONDS)
            hello = wire.loads(self.conn.recv_bytes(65536))
            self.report = _jail.Report(layers=dict(hello["layers"]), missing=dict(hello["missing"]))
            self.rss_kb = max(int(hello.get("rss_kb", 0)), 0)  # resident at start (shared with the zygote)
        except (OSError, EOFError, wire.WireError, KeyError, TypeError, ValueError) as exc:
            self.kill()
            raise OSError(f"the sandbox process did not start: {exc}") from None

    def send(self, message: Any) -> None:
        """Send ``message`` to the worker (``Connection.send`` without its per-call pickler set-up)."""
        self.conn.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))

    def wait(self, seconds: float) -> bool:
        """Whether the worker has sent something (or closed its end) within ``seconds``."""
        return bool(self._waiting.poll(min(max(math.ceil(seconds * 1000), 0), 2**31 - 1)))

    def read_deadline(self, seconds: float) -> None:
        """Reads from the worker give up (``BlockingIOError``) after ``seconds`` without data. The socket keeps the
        timeout set last while it is not more than ``READ_SLACK`` past ``seconds`` nor short of it by more than a
        second or half of it (one system call per statement or so, not one per message)."""
        seconds = min(max(seconds, 0.05), 1e6)
        if seconds - min(1.0, seconds / 2) <= self._read_for <= seconds + READ_SLACK:
            return
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                                struct.pack("ll", int(seconds), int(seconds % 1 * 1e6)))
        self._read_for = seconds

    def ended(self) -> exits.Exit:
        """How the process ended, after its channel closed: waits (``exits.EXIT_SECONDS`` at most) for it to
        exit, then asks the zygote for its status. One that does not exit is killed; its status is unknown."""
        if self._dead:
            return exits.Exit(None)
        waiting = select.poll()
        waiting.register(self.pidfd, select.POLLIN)  # a pidfd is readable once the process has exited
        if not waiting.poll(int(exits.EXIT_SECONDS * 1000)):
            self.kill()
            return exits.Exit(None)
        ended = self.zygote.exit_of(self.pid)
        return replace(ended, peak_kb=max(ended.peak_kb - self.rss_kb, 0))

    def kill(self) -> None:
        """Kill the process (if still alive). Idempotent."""
        if self._dead:
            return
        self._dead = True
        try:  # no wait: the zygote reaps its children
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except OSError:
            pass
        for close in (self.conn.close, self._socket.close, lambda: os.close(self.pidfd)):
            try:
                close()
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)
