"""Landlock (Linux 5.13+) through its three system calls, with ctypes: what a sandbox worker may touch.

``restrict(read, write)`` limits this process (and anything it could start) to reading under the ``read``
directories and reading and writing under the ``write`` ones; every other file access is denied, whatever
the uid. From ABI 4 it also denies TCP bind and connect; from ABI 6 it scopes signals and abstract unix
sockets to the process's own Landlock domain (nothing outside it can be signalled or reached). Needs
no_new_privs (or CAP_SYS_ADMIN). The system call numbers are the same on every architecture.
"""

from __future__ import annotations

import ctypes
import os
import struct

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

# filesystem rights by the ABI that introduced them
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_ABI1 = (1 << 13) - 1  # execute .. make_sym
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV
_NET_TCP = (1 << 0) | (1 << 1)  # bind, connect (ABI 4)
_SCOPES = (1 << 0) | (1 << 1)  # abstract unix sockets, signals (ABI 6)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def abi() -> int:
    """The Landlock ABI version this kernel offers (0: none, or disabled at boot)."""
    version = _libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def _handled_fs(version: int) -> int:
    rights = _ABI1
    if version >= 2:
        rights |= _REFER
    if version >= 3:
        rights |= _TRUNCATE
    if version >= 5:
        rights |= _IOCTL_DEV
    return rights


def _fail(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"landlock {what}: {os.strerror(err)}")


def restrict(read: list[str], write: list[str]) -> dict[str, bool]:
    """Apply the ruleset to this process; returns which parts hold (``filesystem``, ``tcp``, ``scopes``).
    Raises ``OSError`` when Landlock is unavailable or refuses."""
    version = abi()
    if version < 1:
        raise OSError(38, "Landlock is not available (kernel older than 5.13 or not enabled at boot)")
    handled = _handled_fs(version)
    fields = [handled]
    if version >= 4:
        fields.append(_NET_TCP)
    if version >= 6:
        fields.append(_SCOPES)
    attr = struct.pack(f"={len(fields)}Q", *fields)
    ruleset = _libc.syscall(_CREATE_RULESET, attr, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        raise _fail("create_ruleset")
    try:
        readable = _READ_FILE | _READ_DIR
        for paths, rights in ((read, readable), (write, handled)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue  # a path that does not exist needs no rule
                try:
                    allowed = rights if os.path.isdir(path) else rights & _FILE_RIGHTS
                    rule = struct.pack("=Qi", allowed, fd)
                    if _libc.syscall(_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), rule,
                                     ctypes.c_uint32(0)) != 0:
                        raise _fail(f"add_rule {path}")
                finally:
                    os.close(fd)
        if _libc.syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise _fail("restrict_self")
    finally:
        os.close(ruleset)
    return {"filesystem": True, "tcp": version >= 4, "scopes": version >= 6}
