"""The zygote: the process that forks sandbox workers (``recode_graph.sandbox.worker``), one per string-hash seed.

Started by the host's pool (``recode_graph.sandbox.handles._Zygote``) as a fresh interpreter; it imports the sandbox
once and runs a trusted statement, so a worker it forks starts in a few milliseconds with everything loaded.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import resource
import signal
import socket
import sys
from multiprocessing.connection import Connection

from recode_graph.sandbox import exits, jail, namespaces
from recode_graph.sandbox.restricted import Limits, run_code
from recode_graph.sandbox.worker import main


def _preimport() -> None:
    """Import what a statement may load lazily (codecs) while the standard library is still readable: a jailed
    worker's uid may not pass the directories above it."""
    import encodings

    for module in pkgutil.iter_modules(encodings.__path__):
        try:
            importlib.import_module(f"encodings.{module.name}")
        except ImportError:
            pass  # Windows-only codecs


def _warm_up() -> None:
    """Run one trusted statement in the zygote, so what the first statement loads or builds lazily (the policy's
    compiler, codecs, the regex and JSON facades) is in memory every worker shares, not paid for per run."""
    code = "xs = [i for i in range(3)]\nm = re.match(r'(a)', 'a')\nd = json.loads('[1]')\nprint(f'{xs!r}', repr(m))"
    run_code(code, {"t": "x"}, {}, Limits())


def zygote(fd: int, mode: str = "off", tmp_root: str = "") -> None:
    """The process that forks workers (the host's pool starts one per string-hash seed with ``python -s -P -c`` and
    an environment of the seed only, which it drops; it never forks itself, being multi-threaded). It has imported
    the sandbox once, so a worker starts in a few milliseconds. With the jail on it first leaves the host's
    namespaces (``recode_graph.sandbox.namespaces``: it then runs as pid 1 of its own pid namespace and answers
    with the workers' pids on the host); each worker jails itself (``recode_graph.sandbox.jail``) in ``tmp_root``.
    On each request (a socket end passed over ``fd``) it forks a worker serving that socket and answers with the
    worker's pid; asked about a pid, it answers how that worker ended (``recode_graph.sandbox.exits``: it reaps its
    children itself). Ends when the host closes ``fd`` (or ends); its workers then die too (its pid namespace ends
    with it; ``PR_SET_PDEATHSIG`` besides, which is not set on the zygote itself: it would fire when the host
    thread that started it ends)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the host
    reaper = exits.Reaper()  # reaps ended workers on every request and remembers how each ended
    _warm_up()
    jailed = mode == "on"
    zone = namespaces.Zone()
    if jailed:
        _preimport()
        # from here on: pid 1 of a new pid namespace (its parent waits outside), in a root of its own
        zone = namespaces.enter([fd], jail.readable_paths(), tmp_root)
    hosts: dict[int, int] = {}  # host pid -> pid in the zygote's namespace, of workers not asked about yet
    control = socket.socket(fileno=fd)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, exits.REQUEST.size, 1)
            while data and len(data) < exits.REQUEST.size:
                more = control.recv(exits.REQUEST.size - len(data))
                if not more:
                    break
                data += more
        except OSError:
            os._exit(0)
        if len(data) < exits.REQUEST.size:
            os._exit(0)  # the host has gone
        kind, number, child = exits.REQUEST.unpack(data)
        reaper.reap()
        if kind == b"s":  # how did worker ``child`` end?
            for extra in fds:
                os.close(extra)
            local = hosts.pop(child, -1 if zone.pid_namespace else child)
            control.sendall(reaper.answer(number, local))
            continue
        if kind != b"w" or len(fds) != 1:
            os._exit(0)  # not the host's protocol
        pid = os.fork()
        if pid == 0:
            control.close()
            main(Connection(fds[0]), jailed, tmp_root, zone, os.getppid())
        os.close(fds[0])
        try:
            host = namespaces.host_pid(zone, pid)
        except OSError:
            os.kill(pid, signal.SIGKILL)
            host = -1  # never another process's pid: the host gives this worker up
        hosts[host] = pid
        while len(hosts) > exits.KEEP:
            del hosts[next(iter(hosts))]
        control.sendall(exits.ANSWER.pack(number, host, -1, 0))


if __name__ == "__main__":  # python -m recode_graph.sandbox.zygote FD [MODE TMP_ROOT]
    zygote(int(sys.argv[1]), *sys.argv[2:4])
