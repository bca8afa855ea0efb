"""The jail, round 3 (issue 32): IPC, memory outside the limit, lifetime, the temp dir's quota, metadata and
scheduling calls, file watching and mount listings, a seccomp kill named as such, fail closed without seccomp.

Each attempt is plain CPython in a freshly jailed worker (``jail_probe``, RestrictedPython off) and prints
ESCAPED if it got through. They run on this (root) host and again on a non-root host: a host process run as
uid 65534 (``tests/jail_child.py`` through ``setpriv``), whose workers keep the host's uid inside a user
namespace, so only the jail stands between them and that user's files, segments and processes. Controls run
the same attempts without the jail and see them succeed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from functools import lru_cache
from pathlib import Path

import pytest
from jail_child import PREAMBLE, make_targets, remove_segment

from recode_graph.sandbox import Limits, jail_probe, seccomp
from recode_graph.sandbox.landlock import abi
from recode_graph.sandbox.workers import WorkerPool

pytestmark = pytest.mark.skipif(sys.platform != "linux" or abi() < 1 or not seccomp.supported(),
                                reason="the jail needs Linux with Landlock and a seccomp syscall table")

TESTS = Path(__file__).resolve().parent
CHILD = TESTS / "jail_child.py"
NOBODY = 65534
NR = seccomp.arch().table if seccomp.supported() else {}
SECRET = f"sk-test-{uuid.uuid4().hex}"

LISTMOUNT = ("import struct\nlibc = ctypes.CDLL(None, use_errno=True)\n"
             "req = struct.pack('=IIQQ', 24, 0, 2**64 - 1, 0)\nbuf = (ctypes.c_uint64 * 64)()\n"
             "rc = libc.syscall(ctypes.c_long({nr}), req, buf, ctypes.c_long(64), ctypes.c_long(0))\n"
             "err = ctypes.get_errno()\nprint('ESCAPED' if rc >= 0 or err != 1 else 'refused', rc, err)")
STATMOUNT = ("import struct\nlibc = ctypes.CDLL(None, use_errno=True)\nreq = struct.pack('=IIQQ', 24, 0, 1, 1)\n"
             "buf = ctypes.create_string_buffer(4096)\nrc = libc.syscall(ctypes.c_long({nr}), req, buf, "
             "ctypes.c_long(4096), ctypes.c_long(0))\nerr = ctypes.get_errno()\n"
             "print('ESCAPED' if rc >= 0 or err != 1 else 'refused', rc, err)")


def _small_library() -> str:
    """The smallest C extension of the standard library, as hex (the worker cannot read it where it is)."""
    import _ctypes

    found = sorted(Path(_ctypes.__file__).parent.glob("*.so"), key=lambda p: p.stat().st_size)
    return found[0].read_bytes().hex()


SO_COPY = (f"open('lib.so', 'wb').write(bytes.fromhex({_small_library()!r}))\nctypes.CDLL(os.path.abspath('lib.so'))\n"
           "print('ESCAPED')")
PG_SOCKET, MARIADB_SOCKET = "/var/run/postgresql/.s.PGSQL.5432", "/run/mysqld/mysqld.sock"
SERVERS = [name for name, path in (("Postgres over its unix socket", PG_SOCKET),
                                   ("MariaDB over its unix socket", MARIADB_SOCKET)) if os.path.exists(path)]

# (attempt, what stops it, source printing ESCAPED when it gets through)
ATTEMPTS: list[tuple[str, str, str]] = [
    ("create a SysV shared memory segment", "seccomp, own IPC namespace",
     "i = ctypes.CDLL(None).shmget(0, 64 << 20, 0o1600)\nprint('ESCAPED' if i >= 0 else 'refused')"),
    ("find the host's SysV segment by key", "own IPC namespace, seccomp",
     "i = ctypes.CDLL(None).shmget(T['shm_key'], 0, 0)\nprint('ESCAPED' if i >= 0 else 'refused')"),
    ("read the host's SysV segment by id", "own IPC namespace, seccomp",
     "libc = ctypes.CDLL(None)\nlibc.shmat.restype = ctypes.c_void_p\np = libc.shmat(T['shm_id'], None, 0o10000)\n"
     "print('ESCAPED', ctypes.string_at(p, 40)) if p not in (None, 2**64 - 1) else print('refused')"),
    ("a SysV semaphore set", "seccomp",
     "print('ESCAPED' if ctypes.CDLL(None).semget(0, 1, 0o1600) >= 0 else 'refused')"),
    ("a SysV message queue", "seccomp", "print('ESCAPED' if ctypes.CDLL(None).msgget(0, 0o1600) >= 0 else 'refused')"),
    ("a POSIX message queue", "seccomp, RLIMIT_MSGQUEUE",
     "q = ctypes.CDLL(None).mq_open(b'/recode-jail', 0o102, 0o600, None)\nprint('ESCAPED' if q >= 0 else 'refused')"),
    ("memfd_create (memory outside the limit)", "seccomp",
     "fd = os.memfd_create('x')\nos.ftruncate(fd, 1 << 20)\nos.write(fd, b'x' * 4096)\nprint('ESCAPED')"),
    ("memory in /dev/shm", "Landlock", "open('/dev/shm/recode-jail-test', 'wb').write(b'x'); print('ESCAPED')"),
    ("clear the parent-death signal", "seccomp (prctl)",
     "rc = ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)\nprint('ESCAPED' if rc == 0 else 'refused')"),
    ("become a child subreaper", "seccomp (prctl)",
     "rc = ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)\nprint('ESCAPED' if rc == 0 else 'refused')"),
    ("run without a CPU limit", "RLIMIT_CPU (hard)",
     "s, h = resource.getrlimit(resource.RLIMIT_CPU)\nif h == resource.RLIM_INFINITY:\n    print('ESCAPED: no limit')\n"
     "else:\n    resource.setrlimit(resource.RLIMIT_CPU, (h + 60, h + 60))\n    print('ESCAPED')"),
    ("see the host's process in /proc (stat)", "pid namespace, own /proc",
     "os.stat(f\"/proc/{T['host']}\")\nprint('ESCAPED')"),
    ("learn that the user's key exists (stat)", "a root of its own",
     "print('ESCAPED' if os.path.exists(T['key']) else 'refused')"),
    ("stat a host file", "a root of its own", "os.stat('/etc/passwd')\nprint('ESCAPED')"),
    ("Postgres over its unix socket", "seccomp, a root of its own",
     f"s = socket.socket(socket.AF_UNIX)\ns.connect({PG_SOCKET!r})\nprint('ESCAPED')"),
    ("MariaDB over its unix socket", "seccomp, a root of its own",
     f"s = socket.socket(socket.AF_UNIX)\ns.connect({MARIADB_SOCKET!r})\nprint('ESCAPED')"),
    ("fill the temp dir with files", "tmpfs nr_inodes",
     "n = 0\ntry:\n    while n < 20000:\n        open(f'f{n}', 'w').close()\n        n += 1\nexcept OSError as e:\n"
     "    print('refused at', n, e.errno)\nelse:\n    print('ESCAPED', n)"),
    ("fill the temp dir with bytes", "tmpfs size",
     "n = 0\ntry:\n    for i in range(16):\n        with open(f'part{i}', 'wb') as f:\n"
     "            for _ in range(8):\n                f.write(b'x' * 2**20)\n                n += 1\n"
     "except OSError as e:\n    print('refused at', n, 'MB', e.errno)\nelse:\n    print('ESCAPED', n, 'MB')"),
    ("load a C library written to the temp dir", "noexec tmpfs", SO_COPY),
    ("chmod the user's private key", "seccomp (metadata)", "os.chmod(T['key'], 0o644)\nprint('ESCAPED')"),
    ("fchmod its own file", "seccomp (metadata)",
     "fd = os.open('mine', os.O_CREAT | os.O_WRONLY, 0o600)\nos.fchmod(fd, 0o777)\nprint('ESCAPED')"),
    ("fchmodat2", "seccomp (metadata)",
     "libc = ctypes.CDLL(None, use_errno=True)\nopen('m2', 'w').close()\n"
     f"rc = libc.syscall(ctypes.c_long({NR.get('fchmodat2', 452)}), ctypes.c_long(-100), b'm2', ctypes.c_long(0o777), "
     "ctypes.c_long(0))\nprint('ESCAPED' if rc == 0 else 'refused', ctypes.get_errno())"),
    ("chown its own file", "seccomp (metadata)",
     "open('c', 'w').close()\nos.chown('c', os.getuid(), os.getgid())\nprint('ESCAPED')"),
    ("change the key's times (utime)", "seccomp (metadata)", "os.utime(T['key'], (0, 0))\nprint('ESCAPED')"),
    ("set an extended attribute on the key", "seccomp (metadata)",
     "os.setxattr(T['key'], 'user.recode', b'1')\nprint('ESCAPED')"),
    ("renice the host", "seccomp (scheduling), pid namespace",
     "os.setpriority(os.PRIO_PROCESS, T['host'], 19)\nprint('ESCAPED')"),
    ("renice itself", "seccomp (scheduling)", "os.setpriority(os.PRIO_PROCESS, 0, 19)\nprint('ESCAPED')"),
    ("change its CPU affinity", "seccomp (scheduling)", "os.sched_setaffinity(0, {0})\nprint('ESCAPED')"),
    ("set a scheduling policy", "seccomp (scheduling)",
     "os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))\nprint('ESCAPED')"),
    ("set its I/O priority", "seccomp (scheduling)",
     f"rc = ctypes.CDLL(None).syscall(ctypes.c_long({NR.get('ioprio_set', 251)}), ctypes.c_long(1), ctypes.c_long(0), "
     "ctypes.c_long(3 << 13))\nprint('ESCAPED' if rc == 0 else 'refused')"),
    ("watch files with inotify", "seccomp (watching)",
     "fd = ctypes.CDLL(None).inotify_init1(0)\nprint('ESCAPED' if fd >= 0 else 'refused')"),
    ("list the mounts (listmount)", "seccomp", LISTMOUNT.format(nr=NR.get("listmount", 458))),
    ("read a mount (statmount)", "seccomp", STATMOUNT.format(nr=NR.get("statmount", 457))),
]
BODIES = {name: body for name, _, body in ATTEMPTS}
# what the same attempts do without the jail, on each kind of host (the filling ones are left out: slow)
CONTROLS_ROOT = ["create a SysV shared memory segment", "find the host's SysV segment by key",
                 "read the host's SysV segment by id", "a SysV semaphore set",
                 "memfd_create (memory outside the limit)",
                 "clear the parent-death signal", "run without a CPU limit", "see the host's process in /proc (stat)",
                 "load a C library written to the temp dir", "learn that the user's key exists (stat)",
                 "stat a host file", "chmod the user's private key", "fchmodat2",
                 "change the key's times (utime)", "renice itself", "change its CPU affinity",
                 "watch files with inotify", "list the mounts (listmount)", "read a mount (statmount)"]
CONTROLS_ROOT += SERVERS  # the servers running here (the tests use them)
CONTROLS_NONROOT = CONTROLS_ROOT + ["set an extended attribute on the key"]


@pytest.fixture(scope="module")
def targets():
    made = make_targets(SECRET)
    yield made
    remove_segment(made["shm_id"])
    shutil.rmtree(made["folder"], ignore_errors=True)


def _source(targets: dict, body: str) -> str:
    return PREAMBLE.format(targets=targets, secret=SECRET) + body


def _held(result_stdout: str, error: str) -> bool:
    return "ESCAPED" not in result_stdout and bool(error or "refused" in result_stdout)


@pytest.mark.parametrize("attempt,layer,body", ATTEMPTS, ids=[a[0] for a in ATTEMPTS])
def test_attempt_fails_on_a_root_host(targets, attempt, layer, body):
    result = jail_probe(_source(targets, body), limits=Limits(max_seconds=20, max_memory_mb=256))
    assert _held(result.stdout, result.error), (attempt, layer, result)
    assert oct(os.stat(targets["key"]).st_mode & 0o777) == "0o600"


def test_the_same_attempts_get_through_without_the_jail_on_a_root_host(targets, monkeypatch):
    monkeypatch.chdir(targets["folder"])  # an unjailed worker works in the host's directory
    with WorkerPool(max_workers=1, prestart=0, jail="off") as pool:
        for attempt in CONTROLS_ROOT:
            stdout, error = pool.probe(_source(targets, BODIES[attempt]), Limits(max_seconds=20))
            assert "ESCAPED" in stdout, (attempt, stdout, error)


def test_the_host_segment_survives_and_no_segment_is_left_behind(targets):
    before = Path("/proc/sysvipc/shm").read_text().count("\n")
    for _ in range(3):
        jail_probe("import ctypes\nfor _ in range(8): ctypes.CDLL(None).shmget(0, 64 << 20, 0o1600)")
    assert Path("/proc/sysvipc/shm").read_text().count("\n") == before
    assert str(targets["shm_id"]) in Path("/proc/sysvipc/shm").read_text()


# -- a non-root host: a host process as uid 65534 ---------------------------------------------------------------
@lru_cache(maxsize=1)
def nobody_python() -> tuple[str, ...]:
    """The command that runs ``tests/jail_child.py`` as uid 65534 with this checkout and its packages (empty when
    it cannot: not root here, no setpriv, no interpreter of this version that user may run)."""
    import site

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return ()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    boot = ("import site, sys, runpy\n"
            f"for p in {site.getsitepackages()!r}: site.addsitedir(p)\n"
            f"sys.path[:0] = [{str(TESTS)!r}, {str(TESTS.parent)!r}]\n"
            f"sys.argv[0] = {str(CHILD)!r}\nrunpy.run_path({str(CHILD)!r}, run_name='__main__')")
    check = boot.split("sys.argv[0]")[0] + "import jail_child\n"
    for python in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        prefix = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "env", "-i",
                  "PATH=/usr/bin:/bin", python, "-c")
        try:
            if subprocess.run([*prefix, check], cwd="/", capture_output=True, timeout=120).returncode == 0:
                return (*prefix, boot)
        except (OSError, subprocess.TimeoutExpired):
            continue
    return ()


def as_nobody(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([*nobody_python(), *args], input=stdin, capture_output=True, text=True, timeout=300,
                          cwd="/")


needs_nobody = pytest.mark.skipif("not nobody_python()", reason="needs root here (to run a host as uid 65534) "
                                  "and an interpreter that user can run")


@needs_nobody
def test_the_attempts_fail_on_a_non_root_host():
    out = as_nobody("attempts", stdin=json.dumps({"jail": "on", "attempts": BODIES}))
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout)
    layers, missing = results["report"]
    assert not missing and "user namespace" in layers["namespaces"], results["report"]
    assert layers["uid"].startswith(f"{NOBODY} ")
    for name in BODIES:
        stdout, error = results[name]
        assert _held(stdout, error), (name, stdout, error)
    assert results["key mode"] == "0o600"


@needs_nobody
def test_the_same_attempts_get_through_without_the_jail_on_a_non_root_host():
    out = as_nobody("attempts", stdin=json.dumps({"jail": "off", "attempts": {n: BODIES[n] for n in CONTROLS_NONROOT}}))
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout)
    for name in CONTROLS_NONROOT:
        assert "ESCAPED" in results[name][0], (name, results[name])
    assert results["key mode"] == "0o644"  # the unjailed worker did chmod the user's key


# -- lifetime ---------------------------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        state = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State"))
    except (OSError, StopIteration):
        return False
    return "Z" not in state.split()[1]


def _outlive(prefix: tuple[str, ...]) -> None:
    host = subprocess.Popen([*prefix, "outlive"], stdout=subprocess.PIPE, text=True, cwd="/")
    try:
        line = host.stdout.readline() if host.stdout else ""
        worker = int(line)
        assert _alive(worker)
    finally:
        host.kill()  # SIGKILL: the host gets no chance to clean up
        host.wait()
    deadline = time.monotonic() + 30
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker), f"worker {worker} outlived its host"


def test_a_worker_cannot_outlive_a_root_host():
    _outlive((sys.executable, str(CHILD)))


@needs_nobody
def test_a_worker_cannot_outlive_a_non_root_host():
    _outlive(nobody_python())


def test_the_cpu_limit_stops_a_worker_and_says_so():
    result = jail_probe("import resource\nresource.setrlimit(resource.RLIMIT_CPU, (1, resource.getrlimit("
                        "resource.RLIMIT_CPU)[1]))\nwhile True: pass", limits=Limits(max_seconds=60))
    assert "used up its CPU time" in result.error, result


# -- how a seccomp kill and the jail's state are reported --------------------------------------------------------
@pytest.mark.skipif(not seccomp.supported() or not seccomp.arch().x32, reason="a second ABI whose calls are killed")
def test_a_seccomp_kill_is_reported_as_a_blocked_system_call():
    result = jail_probe("import ctypes\nctypes.CDLL(None).syscall(ctypes.c_long(0x40000000 | 39))\nprint('ESCAPED')")
    assert "blocked system call" in result.error and "nested" not in result.error, result
    assert "ESCAPED" not in result.stdout


def test_a_worker_that_exceeded_its_memory_is_not_kept():
    with WorkerPool(max_workers=1, prestart=1) as pool:
        assert pool.run("y = 1", {}, {}, Limits()).ok
        result = pool.run("x = 'a' * (400 * 2**20)", {}, {}, Limits(max_memory_mb=256))
        assert result.error_type == "MemoryError", result.error
        assert pool.killed == 1 and pool.run("y = 1", {}, {}, Limits()).ok and pool.started == 2


def test_the_pool_reports_the_jail_in_one_line_at_start(caplog):
    caplog.set_level(logging.INFO, logger="recode_graph.sandbox")
    with WorkerPool(max_workers=1, prestart=1) as pool:
        assert pool.run("y = 1", {}, {}, Limits()).ok
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sandbox jail:")]
    assert len(lines) == 1 and "\n" not in lines[0], lines
    for layer in ("namespaces", "tmp", "ipc", "filesystem", "seccomp", "lifetime", "network"):
        assert layer in lines[0], lines[0]


def test_syscall_tables():
    for name in seccomp.ARCHES:
        table = seccomp.arch(name).table
        denied = seccomp.denied_names(name)
        assert len({table[n] for n in denied}) == len(denied), name  # no two names on one number
        assert all(n in table for n in (*seccomp.SELF_ONLY, "prlimit64", "prctl", "seccomp")), name
        assert len(seccomp.program(1234, name)) // 8 < 4096  # the kernel's limit on a filter's length
    everything = {n for calls in seccomp.DENIED.values() for n in calls}
    assert everything == set(seccomp.denied_names("x86_64"))
    legacy = {"fork", "vfork", "chmod", "chown", "lchown", "utime", "utimes", "futimesat", "inotify_init", "iopl",
              "ioperm", "uselib", "mknod"}  # calls aarch64 does not have (their *at forms are denied)
    assert everything - set(seccomp.denied_names("aarch64")) == legacy
    with pytest.raises(OSError, match="no seccomp syscall table for the riscv64 architecture"):
        seccomp.program(1, "riscv64")


def test_stopping_a_worker_leaves_no_temp_dir_behind():
    with WorkerPool(max_workers=1, prestart=0) as pool:
        tmp_root = None
        for _ in range(3):
            stdout, error = pool.probe("open('x', 'w').write('y' * 1000)\nimport os\nprint(os.getcwd())", Limits())
            assert not error, error
            tmp_root = stdout.strip()
        assert tmp_root and os.listdir(tmp_root) == []  # the tmpfs was the worker's alone
