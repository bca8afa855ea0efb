"""Linux namespaces for the sandbox: the zygote's (``enter``) and each worker's own (``private_tmp``).

The zygote (``recode_graph.sandbox.zygote``) leaves the host's network, IPC, mount and pid namespaces
(as root; otherwise inside a new user namespace, where the host's uid is mapped to itself). A new pid namespace
takes effect for children only, so the zygote forks once: the parent stays behind, waits and exits with the
child, and the child, pid 1 of the new namespace, serves as the zygote. Everything in a pid namespace is killed
when its pid 1 ends, and the zygote ends as soon as the host does (its control socket closes): no worker can
outlive the host, whatever it does to its parent-death signal. The zygote mounts a ``/proc`` of its own pid
namespace (only the zygote and the workers are in it).

Pids inside the namespace are not the host's: the zygote translates each new worker's pid to the host's
(``host_pid``, through the fdinfo of a pidfd read in the host's ``/proc``, opened before the namespaces), so the
host names workers by their real pids.

Each worker then enters a mount and an IPC namespace of its own and mounts a tmpfs of ``TMP_MB`` MB and
``TMP_INODES`` inodes (``nosuid``, ``nodev``, ``noexec``) as its temporary directory: seen by no other process,
it vanishes with the worker.
"""

from __future__ import annotations

import ctypes
import os
import signal
from dataclasses import dataclass, field

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = (0x00020000, 0x08000000, 0x10000000,
                                                                        0x20000000, 0x40000000)
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT, _MS_BIND, _MS_REC = 1, 2, 4, 8, 32, 4096, 0x4000
_MS_NOATIME, _MS_NODIRATIME, _MS_PRIVATE, _MS_RELATIME = 1024, 2048, 1 << 18, 1 << 21
_MNT_DETACH = 2
_PR_SET_PDEATHSIG = 1
TMP_MB = 32
TMP_INODES = 1024

_libc = ctypes.CDLL(None, use_errno=True)


def _error(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, kind: str | None, flags: int, options: str | None) -> None:
    if _libc.mount(source.encode(), target.encode(), kind.encode() if kind else None, ctypes.c_ulong(flags),
                   options.encode() if options else None) != 0:
        raise _error(f"mount {kind or 'propagation'} on {target}")


@dataclass
class Zone:
    """What the zygote's namespaces hold (``layers`` / ``missing``, as in the jail's report), whether a user
    namespace was needed (the host is not root), and the host's ``/proc`` (a descriptor; -1: none)."""

    layers: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    user: bool = False
    host_proc: int = -1
    pid_namespace: bool = False


def enter(close_in_parent: list[int], keep: list[str], tmp_root: str) -> Zone:
    """In the zygote (single-threaded, before it forks any worker): new network, IPC, mount and pid namespaces,
    and a root of their own holding only ``keep`` (the Python installation, read-only) and ``tmp_root``.
    Forks: the calling process closes ``close_in_parent``, waits for the child and exits with its status; only
    the child (pid 1 of the new pid namespace) returns. On failure nothing is forked and the zone says why."""
    zone = Zone()
    try:  # without it the host could not learn its workers' pids: no namespaces then
        zone.host_proc = os.open("/proc", os.O_PATH | os.O_DIRECTORY)
    except OSError as exc:
        zone.missing["namespaces"] = f"the host's /proc cannot be opened ({exc.strerror})"
        return zone
    flags = CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWNS | CLONE_NEWPID
    uid, gid = os.getuid(), os.getgid()
    if not (os.geteuid() == 0 and _libc.unshare(flags) == 0):
        if _libc.unshare(CLONE_NEWUSER | flags) != 0:
            zone.missing["namespaces"] = f"unshare: {os.strerror(ctypes.get_errno())}"
            return zone
        zone.user = True
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as out:
                out.write(text)
    try:
        _mount("none", "/", None, _MS_REC | _MS_PRIVATE, None)  # nothing mounted here reaches the host
    except OSError as exc:
        zone.missing["mounts"] = str(exc)
    child = os.fork()
    if child:
        for fd in close_in_parent:
            os.close(fd)
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except ChildProcessError:
                status = 0
                break
            except InterruptedError:
                continue
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the waiting parent is killed: so is the zygote
    zone.pid_namespace = True
    user = "a user namespace (uid mapped to the host's own), " if zone.user else ""
    zone.layers["namespaces"] = f"{user}own network (no interface), IPC, mount and pid namespaces"
    try:
        if "mounts" in zone.missing:
            raise OSError("mounts would reach the host's namespace")
        _minimal_root(tmp_root, keep)
        zone.layers["root"] = ("a root of its own: the Python installation (read-only binds), /dev/null, /proc, the "
                               "temp dirs; no other host path exists for stat()")
        zone.layers["proc"] = "/proc of the worker's own pid namespace (the zygote and the workers only)"
    except OSError as exc:
        zone.missing["root"] = f"the host's paths stay visible to stat() ({exc})"
        try:
            if "mounts" in zone.missing:
                raise OSError("mounts would reach the host's namespace")
            _proc("/proc")
            zone.layers["proc"] = "/proc of the worker's own pid namespace (the zygote and the workers only)"
        except OSError as exc:
            zone.missing["proc"] = f"the host's /proc stays visible to stat() ({exc})"
    return zone


def _proc(target: str) -> None:
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    try:
        _mount("proc", target, "proc", flags, "hidepid=invisible")
    except OSError:
        _mount("proc", target, "proc", flags, None)


def _kept_flags(path: str) -> int:
    """The mount flags of ``path`` a read-only remount must keep (a user namespace may not clear them)."""
    found = os.statvfs(path).f_flag
    flags = _MS_NOSUID | _MS_NODEV
    for st, ms in ((os.ST_NOEXEC, _MS_NOEXEC), (os.ST_NOATIME, _MS_NOATIME), (os.ST_NODIRATIME, _MS_NODIRATIME),
                   (os.ST_RELATIME, _MS_RELATIME)):
        if found & st:
            flags |= ms
    return flags


def _minimal_root(staging: str, keep: list[str]) -> None:
    """Make a tmpfs on ``staging`` the root of this mount namespace: ``keep`` bound read-only at the same paths,
    ``/dev/null``, a ``/proc`` of this pid namespace and an empty ``staging`` (where the workers mount their
    temp dirs); the host's root is detached. Raises ``OSError`` (the mounts made so far stay under ``staging``,
    unused: the root is the host's)."""
    from recode_graph.sandbox import seccomp

    pivot_root = seccomp.arch().table["pivot_root"]
    _mount("tmpfs", staging, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,nr_inodes=4096,mode=0755")
    kept: list[str] = []
    for path in sorted(keep, key=len):
        if any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept) or not os.path.isdir(path):
            continue
        inside = staging + path
        os.makedirs(inside, exist_ok=True)
        _mount(path, inside, None, _MS_BIND | _MS_REC, None)
        try:
            _mount("none", inside, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _kept_flags(path), None)
        except OSError:
            pass  # Landlock keeps it read-only for the workers
        kept.append(path)
    os.makedirs(staging + "/dev", exist_ok=True)
    open(staging + "/dev/null", "w").close()
    _mount("/dev/null", staging + "/dev/null", None, _MS_BIND, None)
    os.makedirs(staging + "/proc", exist_ok=True)
    _proc(staging + "/proc")
    os.makedirs(staging + staging, mode=0o711, exist_ok=True)
    os.chmod(staging + staging, 0o711)
    os.chdir(staging)
    if _libc.syscall(ctypes.c_long(pivot_root), b".", b".") != 0:
        raise _error("pivot_root")
    if _libc.umount2(b".", ctypes.c_int(_MNT_DETACH)) != 0:  # the host's root, now stacked under the new one
        raise _error("umount the host's root")
    os.chdir("/")


def host_pid(zone: Zone, pid: int | None = None) -> int:
    """The host's pid of process ``pid`` (default: this one), which is a child of the caller or the caller."""
    if zone.host_proc < 0 or not zone.pid_namespace:
        return pid or os.getpid()
    if pid is None:
        return int(os.readlink("self", dir_fd=zone.host_proc))
    pidfd = os.pidfd_open(pid)
    try:
        info = os.open(f"self/fdinfo/{pidfd}", os.O_RDONLY, dir_fd=zone.host_proc)
        try:
            text = os.read(info, 4096).decode("ascii", "replace")
        finally:
            os.close(info)
    finally:
        os.close(pidfd)
    for line in text.splitlines():
        if line.startswith("Pid:"):
            return int(line.split()[1])
    raise OSError(f"no pid of worker {pid} in the host's /proc")


def private_tmp(tmp_root: str, name: int, owner: int | None) -> tuple[str, str]:
    """In a worker (before it drops privileges): its own mount and IPC namespaces and a tmpfs on ``tmp_root`` as
    its temporary directory (owned by ``owner`` when given). Returns (the directory, "") or, when namespaces
    are not available, (a fresh directory ``tmp_root/name`` on the host's disk, why not)."""
    if _libc.unshare(CLONE_NEWNS | CLONE_NEWIPC) == 0:
        options = f"size={TMP_MB}m,nr_inodes={TMP_INODES},mode=0700"
        if owner is not None:
            options += f",uid={owner},gid={owner}"
        try:
            _mount("none", "/", None, _MS_REC | _MS_PRIVATE, None)  # the tmpfs reaches no other namespace
            _mount("tmpfs", tmp_root, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, options)
            return tmp_root, ""
        except OSError as exc:
            why = str(exc)
    else:
        why = f"unshare: {os.strerror(ctypes.get_errno())}"
    tmp = os.path.join(tmp_root, str(name))
    os.mkdir(tmp, 0o700)
    if owner is not None:
        os.chown(tmp, owner, owner)
    return tmp, why
