"""A seccomp filter for sandbox workers, built by hand as classic BPF (no library needed).

Default allow, then deny (``EPERM``) every system call a worker has no use for and that an escaped statement
could use to leave the jail: creating sockets (the channel to the host is inherited, already open), new
processes and threads (``fork``, ``clone``, ``execve``), signals to any process but itself, ``ptrace`` and
reading another process's memory, rlimits of other processes, namespaces, mounts, ``chroot``, keyrings,
``bpf``, ``io_uring`` (its operations bypass seccomp), kernel modules, changing uid / gid / capabilities,
device nodes and file handles. A call for another architecture (or the x32 ABI) kills the process.

Only x86_64 has its syscall table here; elsewhere ``supported()`` is false and the layer is reported missing.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06

_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2

# x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl)
_DENIED_X86_64 = {
    # network: no new socket of any family (the host channel is an inherited fd)
    "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50, "socketpair": 53, "accept4": 288,
    # processes and threads
    "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "clone3": 435,
    # other processes
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_open": 434,
    "pidfd_send_signal": 424, "pidfd_getfd": 438, "migrate_pages": 256, "move_pages": 279,
    # namespaces, mounts, root directory
    "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442,
    # kernel interfaces an ordinary program never needs
    "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320, "reboot": 169,
    "swapon": 167, "swapoff": 168, "acct": 163, "syslog": 103, "quotactl": 179, "personality": 135,
    "iopl": 172, "ioperm": 173, "uselib": 134, "vhangup": 153, "settimeofday": 164, "clock_settime": 227,
    "adjtimex": 159, "clock_adjtime": 305, "sethostname": 170, "setdomainname": 171, "fanotify_init": 300,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "mknod": 133, "mknodat": 259,
    # identity and privileges (set once by the jail before the filter)
    "setuid": 105, "setgid": 106, "setreuid": 113, "setregid": 114, "setgroups": 116, "setresuid": 117,
    "setresgid": 119, "setfsuid": 122, "setfsgid": 123, "capset": 126,
}
# allowed only when the first argument is this process (signals to itself: abort(), raise_signal)
_SELF_ONLY_X86_64 = {"kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297}
# rlimits: only this process's own (pid 0 or its pid); raising a hard limit needs a capability it lacks
_PRLIMIT64_X86_64 = 302


def supported() -> bool:
    return platform.machine() == "x86_64"


def denied_names() -> list[str]:
    return sorted(_DENIED_X86_64)


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def _arg_in(nr: int, index: int, values: list[int], deny: int) -> list[bytes]:
    """If the call is ``nr``: allow it when argument ``index`` (64 bits) is one of ``values``, else deny.
    Otherwise skip the block with the accumulator (the syscall number) untouched."""
    low, high = 16 + 8 * index, 20 + 8 * index
    n = len(values)  # every value here has a high word of 0 (pids, 0)
    body = [_insn(_LD_W_ABS, high), _insn(_JEQ_K, 0, jt=0, jf=n + 1), _insn(_LD_W_ABS, low)]
    body += [_insn(_JEQ_K, v, jt=n - i, jf=0) for i, v in enumerate(values)]
    body += [_insn(_RET_K, deny), _insn(_RET_K, _RET_ALLOW)]
    return [_insn(_JEQ_K, nr, jt=0, jf=len(body))] + body


def program(pid: int) -> bytes:
    """The filter for process ``pid`` (its own pid is the only target of signals and rlimit changes)."""
    deny = _RET_ERRNO | errno.EPERM
    out = [_insn(_LD_W_ABS, 4), _insn(_JEQ_K, _ARCH_X86_64, jt=1, jf=0), _insn(_RET_K, _RET_KILL_PROCESS),
           _insn(_LD_W_ABS, 0), _insn(_JGE_K, _X32_BIT, jt=0, jf=1), _insn(_RET_K, _RET_KILL_PROCESS)]
    for nr in sorted(_DENIED_X86_64.values()):
        out += [_insn(_JEQ_K, nr, jt=0, jf=1), _insn(_RET_K, deny)]
    for nr in sorted(_SELF_ONLY_X86_64.values()):
        out += _arg_in(nr, 0, [pid], deny)
    out += _arg_in(_PRLIMIT64_X86_64, 0, [0, pid], deny)
    out.append(_insn(_RET_K, _RET_ALLOW))
    return b"".join(out)


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> None:
    """Install the filter on this process (needs no_new_privs or CAP_SYS_ADMIN). Raises ``OSError``."""
    if not supported():
        raise OSError(errno.ENOSYS, f"no seccomp syscall table for {platform.machine()}")
    code = program(os.getpid())
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _Prog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp filter refused: {os.strerror(err)}")
