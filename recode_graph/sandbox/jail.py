"""The OS jail around each sandbox worker (layer 3 of the sandbox; it holds even if RestrictedPython does not).

The zygote that forks the workers first leaves the host's network, IPC, mount and pid namespaces
(``recode_graph.sandbox.namespaces``): workers have no interface but an unconfigured loopback, and they die with
the zygote, which ends with the host. Each worker then jails itself right after the fork, before it reads any
statement (``apply``), in this order: descriptors (only the channel to the host; 0-2 are ``/dev/null``), an
empty environment, its own mount and IPC namespaces with a size- and inode-limited tmpfs as its temporary and
working directory, no_new_privs, Landlock (read-only: the Python installation; read-write: the temporary
directory; no TCP; signals and abstract sockets scoped to the worker), rlimits (no new processes, few open
files, bounded file size and CPU time, no core dumps), an unprivileged uid (when the host is root: a uid of its
own per worker, ``UID_BASE`` + its pid on the host), no capabilities (bounding and ambient sets too), the
parent-death signal, and a seccomp filter last (``recode_graph.sandbox.seccomp``).

Each layer that could not be applied is reported as missing. The host (``recode_graph.sandbox.workers``)
reads the report from the first worker and logs it in one line (``Report.summary``): ``REQUIRED`` layers
missing (Landlock, the seccomp filter: a kernel without them, or a machine without a syscall table here) means
the pool refuses to start unless the jail is explicitly off (``WorkerPool(jail="off")`` or
``RECODE_SANDBOX_JAIL=off``; any other value than ``on`` / ``off`` is an error).
"""

from __future__ import annotations

import ctypes
import os
import resource
import site
import sysconfig
from dataclasses import dataclass, field

from recode_graph.sandbox import landlock, namespaces, seccomp

MODES = ("on", "off")
ENV_VAR = "RECODE_SANDBOX_JAIL"
REQUIRED = ("filesystem", "network", "seccomp")
UID_BASE = 1_500_000_000
MAX_OPEN_FILES = 64
MAX_FILE_BYTES = namespaces.TMP_MB * 2**20
CPU_SECONDS = 600  # CPU time per worker (a worker past half of it is replaced after its statement)

_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT = 1, 24, 38, 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


class JailUnavailable(RuntimeError):
    """A required layer of the jail cannot be applied on this machine (the pool refuses to start)."""


def mode(value: str | None = None) -> str:
    """The jail mode: ``value``, else ``$RECODE_SANDBOX_JAIL``, else "on". Anything but on/off is an error."""
    chosen = value if value is not None else os.environ.get(ENV_VAR, "on")
    if chosen not in MODES:
        source = "jail=" if value is not None else f"{ENV_VAR}="
        raise ValueError(f"{source}{chosen!r} is not a sandbox jail mode: use 'on' (the default) or 'off'")
    return chosen


@dataclass
class Report:
    """Which layers hold in a worker (name -> how) and which are missing (name -> why)."""

    layers: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: the layers that hold, by name, and each missing one with why."""
        gone = "; ".join(f"{k} ({v})" for k, v in self.missing.items())
        return f"sandbox jail: {', '.join(self.layers) or 'no layer'}" + (f" -- MISSING: {gone}" if gone else "")

    def refusal(self) -> str:
        """The one-line error when a required layer is missing ("" when none is)."""
        absent = [name for name in REQUIRED if name in self.missing]
        if not absent:
            return ""
        why = "; ".join(f"{name}: {self.missing[name]}" for name in absent)
        return (f"the sandbox jail cannot be applied on this machine, missing the {' and '.join(absent)} "
                f"layer ({why}); to run generated code without the OS jail, opt out explicitly with "
                f"{ENV_VAR}=off or WorkerPool(jail='off')")


def _errno_text() -> str:
    return os.strerror(ctypes.get_errno())


def readable_paths() -> list[str]:
    """The Python installation: the standard library, site-packages and this package (not other entries of
    ``sys.path``: a script's folder or the working directory may be anything)."""
    paths = [sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    paths += site.getsitepackages()
    paths.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # recode_graph (editable installs)
    out: list[str] = []
    for path in paths:
        real = os.path.realpath(path)
        if os.path.exists(real) and real not in out:
            out.append(real)
    return out


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities() -> None:
    for cap in range(64):  # EINVAL past the last capability; EPERM without CAP_SETPCAP (a non-root host)
        if _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header, data = _CapHeader(_CAP_VERSION_3, 0), (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), f"capset: {_errno_text()}")
    if _libc.capget(ctypes.byref(header), data) != 0 or any(d.effective or d.permitted for d in data):
        raise OSError(1, "capabilities remain after capset")


def _limit(name: str, value: int) -> None:
    resource.setrlimit(getattr(resource, name), (value, value))


def _close_all_but(keep: list[int]) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def _rlimits(report: Report) -> None:
    try:
        for name, value in (("RLIMIT_NPROC", 0), ("RLIMIT_NOFILE", MAX_OPEN_FILES), ("RLIMIT_FSIZE", MAX_FILE_BYTES),
                            ("RLIMIT_CORE", 0), ("RLIMIT_MEMLOCK", 0), ("RLIMIT_MSGQUEUE", 0)):
            _limit(name, value)
        # SIGXCPU at CPU_SECONDS (the host reports it), SIGKILL a little later if the worker ignores it
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 5))
        report.layers["rlimits"] = (f"processes 0, open files {MAX_OPEN_FILES}, file size {MAX_FILE_BYTES // 2**20} "
                                    f"MB, CPU {CPU_SECONDS} s per worker, no core dumps, no locked memory")
    except (OSError, ValueError) as exc:
        report.missing["rlimits"] = str(exc)


def apply(keep: list[int], tmp_root: str, zone: namespaces.Zone, parent: int) -> Report:
    """Jail this process (a freshly forked worker). ``keep``: descriptors it keeps (the channel to the host,
    its own ``/proc/self/status``); ``zone``: the zygote's namespaces; ``parent``: the zygote's pid."""
    report = Report(layers=dict(zone.layers), missing=dict(zone.missing))
    layers, missing = report.layers, report.missing
    root = os.geteuid() == 0 and not zone.user
    name = namespaces.host_pid(zone)  # the host's pid of this worker, before the host's /proc is closed
    _close_all_but(keep)
    os.environ.clear()
    layers["environment"] = "empty (the zygote starts with none)"
    uid = UID_BASE + name if root else os.getuid()
    tmp, why = namespaces.private_tmp(tmp_root, name, uid if root else None)
    if why:
        missing["tmp"] = f"no tmpfs of its own ({why}): a directory on the host's disk, files up to the size rlimit"
    else:
        layers["tmp"] = (f"a tmpfs of {namespaces.TMP_MB} MB and {namespaces.TMP_INODES} inodes in its own mount "
                         "namespace (noexec), gone with the worker")
        layers["ipc"] = "own IPC namespace per worker; seccomp denies SysV IPC and POSIX message queues"
    os.chdir(tmp)
    os.environ["TMPDIR"] = tmp
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0:
        layers["no_new_privs"] = "on"
    else:
        missing["no_new_privs"] = _errno_text()
    network = ["own network namespace (no interface)"] if "namespaces" in zone.layers else []
    try:
        held = landlock.restrict(readable_paths(), [tmp])
        layers["filesystem"] = f"Landlock ABI {landlock.abi()}: read-only Python installation, read-write {tmp}"
        if held["tcp"]:
            network.append("Landlock denies TCP bind/connect")
        if held["scopes"]:
            layers["signals"] = "Landlock scope: no signal or abstract socket outside the worker"
    except OSError as exc:
        missing["filesystem"] = str(exc)
    _rlimits(report)
    if root:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            layers["uid"] = f"{uid} (unprivileged, one per worker)"
        except OSError as exc:
            missing["uid"] = str(exc)
    else:
        layers["uid"] = f"{uid} (the host's own: the host is not root)"
    try:
        _drop_capabilities()
        layers["capabilities"] = "none (bounding and ambient sets empty)"
    except OSError as exc:
        missing["capabilities"] = str(exc)
    _libc.prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)  # a uid change cleared it
    if os.getppid() != parent:
        os._exit(0)
    try:
        denied = seccomp.install()
        layers["seccomp"] = (f"{denied} system calls denied: no fork/clone/exec, sockets, ptrace, namespaces or "
                             "mounts; no SysV IPC, memfd, chmod/chown/utime/xattr, scheduling changes, inotify, "
                             "listmount/statmount; signals and rlimits to itself only; prctl limited (the parent-death "
                             "signal stays)")
        network.append("seccomp denies socket()")
        lifetime = ["parent-death signal locked (seccomp)", f"CPU {CPU_SECONDS} s"]
        if zone.pid_namespace:
            lifetime.insert(0, "pid namespace ended by the zygote, which ends with the host")
        layers["lifetime"] = ", ".join(lifetime)
    except OSError as exc:
        missing["seccomp"] = str(exc)
    if network:
        layers["network"] = "; ".join(network)
    else:
        missing["network"] = "no network namespace, no seccomp"
    return report
