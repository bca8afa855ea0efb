"""A seccomp filter for sandbox workers, built by hand as classic BPF (no library needed).

Default allow, then deny (``EPERM``) every system call a worker has no use for and that an escaped statement
could use to leave the jail or to reach past its limits (``DENIED``, by purpose): creating sockets (the channel to
the host is inherited, already open), new processes and threads, signals to any process but itself, ``ptrace``
and other processes' memory, namespaces, mounts and mount listings, keyrings, ``bpf``, ``io_uring`` (its operations
bypass seccomp), kernel modules, uid / gid / capability changes, SysV IPC and POSIX message queues, ``memfd``
(memory outside the worker's address-space limit), file metadata changes (chmod / chown / utime / xattrs, their
``*at`` and ``f*`` variants: Landlock does not cover them, and on a non-root host the worker's uid owns the
user's files), scheduling changes (priority, policy, affinity, I/O priority), inotify / fanotify. ``prctl`` is
allowed for a short list of harmless options only (so the parent-death signal cannot be cleared), rlimits only
for the process itself. A call for another architecture or ABI (x32) kills the process (``SIGSYS``).

Syscall tables: x86_64 and aarch64 (the generic table). On any other machine ``install`` raises and the jail
reports the layer missing, which makes the pool refuse to start (fail closed) unless the jail is opted out of.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06

_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_X32_BIT = 0x40000000
_SECCOMP_SET_MODE_FILTER = 1

# What is denied, by purpose (a name missing from an architecture's table does not exist there).
DENIED: dict[str, tuple[str, ...]] = {
    "sockets": ("socket", "connect", "accept", "bind", "listen", "socketpair", "accept4"),
    "processes": ("clone", "fork", "vfork", "execve", "execveat", "clone3"),
    "other processes": ("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_open",
                        "pidfd_send_signal", "pidfd_getfd", "migrate_pages", "move_pages", "process_madvise",
                        "process_mrelease"),
    "namespaces and mounts": ("unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree",
                              "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
                              "open_tree_attr", "statmount", "listmount"),
    "kernel": ("keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
               "io_uring_enter", "io_uring_register", "init_module", "finit_module", "delete_module", "kexec_load",
               "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "syslog", "quotactl", "quotactl_fd",
               "personality", "iopl", "ioperm", "uselib", "vhangup", "settimeofday", "clock_settime", "adjtimex",
               "clock_adjtime", "sethostname", "setdomainname", "name_to_handle_at", "open_by_handle_at", "mknod",
               "mknodat"),
    "identity": ("setuid", "setgid", "setreuid", "setregid", "setgroups", "setresuid", "setresgid", "setfsuid",
                 "setfsgid", "capset"),
    "ipc": ("shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semctl", "semtimedop", "msgget", "msgsnd",
            "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
            "mq_getsetattr"),
    "memory": ("memfd_create", "memfd_secret"),
    "metadata": ("chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "utime",
                 "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr", "removexattr",
                 "lremovexattr", "fremovexattr", "setxattrat", "removexattrat", "file_setattr"),
    "scheduling": ("setpriority", "sched_setparam", "sched_setscheduler", "sched_setaffinity", "sched_setattr",
                   "ioprio_set"),
    "watching": ("inotify_init", "inotify_init1", "inotify_add_watch", "fanotify_init", "fanotify_mark"),
}
# allowed only when the first argument is this process (signals to itself: abort(), raise_signal)
SELF_ONLY = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
# prctl options a worker may use (reads, its thread name, naming its own memory maps, no_new_privs, arm64's
# vector length and tagged addresses for itself); everything else, PR_SET_PDEATHSIG first, is denied
PRCTL_ALLOWED = (2, 3, 7, 9, 11, 13, 15, 16, 19, 21, 23, 25, 30, 38, 39, 40, 42, 50, 51, 55, 56,
                 0x53564D41, 0x41555856)

# Numbers of the system calls added since the unified numbering (Linux 5.1): the same on every architecture.
_UNIFIED = {"pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
            "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
            "pidfd_open": 434, "clone3": 435, "pidfd_getfd": 438, "process_madvise": 440, "mount_setattr": 442,
            "quotactl_fd": 443, "memfd_secret": 447, "process_mrelease": 448, "fchmodat2": 452, "statmount": 457,
            "listmount": 458, "setxattrat": 463, "removexattrat": 466, "open_tree_attr": 467, "file_setattr": 469}
# arch/x86/entry/syscalls/syscall_64.tbl
_X86_64 = {
    "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50, "socketpair": 53, "accept4": 288,
    "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "ptrace": 101, "process_vm_readv": 310,
    "process_vm_writev": 311, "kcmp": 312, "migrate_pages": 256, "move_pages": 279, "unshare": 272, "setns": 308,
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "keyctl": 250, "add_key": 248,
    "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320, "reboot": 169,
    "swapon": 167, "swapoff": 168, "acct": 163, "syslog": 103, "quotactl": 179, "personality": 135, "iopl": 172,
    "ioperm": 173, "uselib": 134, "vhangup": 153, "settimeofday": 164, "clock_settime": 227, "adjtimex": 159,
    "clock_adjtime": 305, "sethostname": 170, "setdomainname": 171, "fanotify_init": 300, "fanotify_mark": 301,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "mknod": 133, "mknodat": 259, "setuid": 105,
    "setgid": 106, "setreuid": 113, "setregid": 114, "setgroups": 116, "setresuid": 117, "setresgid": 119,
    "setfsuid": 122, "setfsgid": 123, "capset": 126, "shmget": 29, "shmat": 30, "shmdt": 67, "shmctl": 31,
    "semget": 64, "semop": 65, "semctl": 66, "semtimedop": 220, "msgget": 68, "msgsnd": 69, "msgrcv": 70,
    "msgctl": 71, "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244,
    "mq_getsetattr": 245, "memfd_create": 319, "chmod": 90, "fchmod": 91, "fchmodat": 268, "chown": 92,
    "fchown": 93, "lchown": 94, "fchownat": 260, "utime": 132, "utimes": 235, "futimesat": 261, "utimensat": 280,
    "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197, "lremovexattr": 198,
    "fremovexattr": 199, "setpriority": 141, "sched_setparam": 142, "sched_setscheduler": 144,
    "sched_setaffinity": 203, "sched_setattr": 314, "ioprio_set": 251, "inotify_init": 253, "inotify_init1": 294,
    "inotify_add_watch": 254, "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129,
    "rt_tgsigqueueinfo": 297, "prlimit64": 302, "prctl": 157, "seccomp": 317,
}
# include/uapi/asm-generic/unistd.h (no fork, chmod, chown, utime, inotify_init, iopl... on aarch64)
_AARCH64 = {
    "socket": 198, "connect": 203, "accept": 202, "bind": 200, "listen": 201, "socketpair": 199, "accept4": 242,
    "clone": 220, "execve": 221, "execveat": 281, "ptrace": 117, "process_vm_readv": 270,
    "process_vm_writev": 271, "kcmp": 272, "migrate_pages": 238, "move_pages": 239, "unshare": 97, "setns": 268,
    "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "keyctl": 219, "add_key": 217, "request_key": 218,
    "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "init_module": 105, "finit_module": 273,
    "delete_module": 106, "kexec_load": 104, "kexec_file_load": 294, "reboot": 142, "swapon": 224,
    "swapoff": 225, "acct": 89, "syslog": 116, "quotactl": 60, "personality": 92, "vhangup": 58,
    "settimeofday": 170, "clock_settime": 112, "adjtimex": 171, "clock_adjtime": 266, "sethostname": 161,
    "setdomainname": 162, "fanotify_init": 262, "fanotify_mark": 263, "name_to_handle_at": 264,
    "open_by_handle_at": 265, "mknodat": 33, "setuid": 146, "setgid": 144, "setreuid": 145, "setregid": 143,
    "setgroups": 159, "setresuid": 147, "setresgid": 149, "setfsuid": 151, "setfsgid": 152, "capset": 91,
    "shmget": 194, "shmat": 196, "shmdt": 197, "shmctl": 195, "semget": 190, "semop": 193, "semctl": 191,
    "semtimedop": 192, "msgget": 186, "msgsnd": 189, "msgrcv": 188, "msgctl": 187, "mq_open": 180,
    "mq_unlink": 181, "mq_timedsend": 182, "mq_timedreceive": 183, "mq_notify": 184, "mq_getsetattr": 185,
    "memfd_create": 279, "fchmod": 52, "fchmodat": 53, "fchown": 55, "fchownat": 54, "utimensat": 88,
    "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7, "removexattr": 14, "lremovexattr": 15, "fremovexattr": 16,
    "setpriority": 140, "sched_setparam": 118, "sched_setscheduler": 119, "sched_setaffinity": 122,
    "sched_setattr": 274, "ioprio_set": 30, "inotify_init1": 26, "inotify_add_watch": 27, "kill": 129,
    "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240, "prlimit64": 261,
    "prctl": 167, "seccomp": 277,
}


@dataclass(frozen=True)
class Arch:
    name: str
    audit: int  # AUDIT_ARCH_* (seccomp_data.arch)
    table: dict[str, int]
    x32: bool = False  # numbers with this bit are another ABI on the same architecture


ARCHES = {"x86_64": Arch("x86_64", 0xC000003E, {**_X86_64, **_UNIFIED}, x32=True),
          "aarch64": Arch("aarch64", 0xC00000B7, {**_AARCH64, **_UNIFIED})}


def machine() -> str:
    name = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(name, name)


def arch(name: str | None = None) -> Arch:
    """The syscall table of ``name`` (default: this machine). Raises ``OSError`` for an architecture without one."""
    name = name or machine()
    if name not in ARCHES:
        raise OSError(errno.ENOSYS, f"no seccomp syscall table for the {name} architecture (known: "
                      f"{', '.join(ARCHES)})")
    return ARCHES[name]


def supported() -> bool:
    return machine() in ARCHES


def denied_names(name: str | None = None) -> list[str]:
    """The system calls denied on an architecture (those that exist there)."""
    table = arch(name).table
    return sorted({call for calls in DENIED.values() for call in calls if call in table})


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def _arg_in(nr: int, index: int, values: tuple[int, ...] | list[int], deny: int, whole: bool = True) -> list[bytes]:
    """If the call is ``nr``: allow it when argument ``index`` is one of ``values``, else deny. ``whole``: the
    64-bit value must match (its high word 0); otherwise only the low 32 bits count (an ``int`` argument, which is
    all the kernel reads). Otherwise skip the block with the accumulator (the syscall number) untouched."""
    low, high = 16 + 8 * index, 20 + 8 * index  # little-endian seccomp_data.args (both tables are)
    n = len(values)
    body = [_insn(_LD_W_ABS, high), _insn(_JEQ_K, 0, jt=0, jf=n + 1)] if whole else []
    body.append(_insn(_LD_W_ABS, low))
    body += [_insn(_JEQ_K, v, jt=n - i, jf=0) for i, v in enumerate(values)]
    body += [_insn(_RET_K, deny), _insn(_RET_K, _RET_ALLOW)]
    return [_insn(_JEQ_K, nr, jt=0, jf=len(body))] + body


def program(pid: int, name: str | None = None) -> bytes:
    """The filter for process ``pid`` (its own pid is the only target of signals and rlimit changes)."""
    target = arch(name)
    table = target.table
    deny = _RET_ERRNO | errno.EPERM
    out = [_insn(_LD_W_ABS, 4), _insn(_JEQ_K, target.audit, jt=1, jf=0), _insn(_RET_K, _RET_KILL_PROCESS),
           _insn(_LD_W_ABS, 0)]
    if target.x32:
        out += [_insn(_JGE_K, _X32_BIT, jt=0, jf=1), _insn(_RET_K, _RET_KILL_PROCESS)]
    for nr in sorted({table[call] for call in denied_names(target.name)}):
        out += [_insn(_JEQ_K, nr, jt=0, jf=1), _insn(_RET_K, deny)]
    for call in SELF_ONLY:
        out += _arg_in(table[call], 0, [pid], deny)
    out += _arg_in(table["prlimit64"], 0, [0, pid], deny)
    out += _arg_in(table["prctl"], 0, PRCTL_ALLOWED, deny, whole=False)
    out.append(_insn(_RET_K, _RET_ALLOW))
    return b"".join(out)


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> int:
    """Install the filter on this process (needs no_new_privs or CAP_SYS_ADMIN) with the ``seccomp`` system call;
    returns how many system calls it denies. Raises ``OSError`` (no table for this machine, or the kernel
    refuses: built without seccomp, or a container's own filter forbids it)."""
    target = arch()
    code = program(os.getpid())
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _Prog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.syscall(ctypes.c_long(target.table["seccomp"]), ctypes.c_uint(_SECCOMP_SET_MODE_FILTER),
                    ctypes.c_uint(0), ctypes.byref(prog)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp filter refused: {os.strerror(err)}")
    return len(denied_names(target.name))
