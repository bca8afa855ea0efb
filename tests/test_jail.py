"""The OS jail holds without RestrictedPython (issue 21): escape attempts as plain CPython in jailed workers.

Every attempt runs through ``jail_probe`` (a fresh jailed worker, RestrictedPython off) and prints ESCAPED if
it got through. The same attempts in an unjailed worker (``WorkerPool(jail="off")``) do get through, so what
stops them is the jail and not a typo in the attempt. Real processes, real sockets, no mocks.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from recode_graph.sandbox import Limits, jail_probe
from recode_graph.sandbox.jail import JailUnavailable, Report, mode
from recode_graph.sandbox.landlock import abi
from recode_graph.sandbox.workers import WorkerPool

pytestmark = pytest.mark.skipif(sys.platform != "linux" or abi() < 1, reason="the jail needs Linux with Landlock")

SECRET = f"sk-test-{uuid.uuid4().hex}"


@pytest.fixture(scope="module", autouse=True)
def host_key():
    """The host's API key while this module runs (no worker may see it); the other tests' environment after."""
    before = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = SECRET
    yield
    if before is None:
        os.environ.pop("OPENAI_API_KEY", None)
    else:
        os.environ["OPENAI_API_KEY"] = before


@pytest.fixture(scope="module")
def targets():
    """Things outside the jail: a secret file, a process of the host's user, listening sockets."""
    folder = tempfile.mkdtemp(prefix="recode-jail-test-")
    secret = os.path.join(folder, "secret.txt")
    with open(secret, "w") as out:
        out.write(SECRET)
    os.chmod(folder, 0o755)
    os.chmod(secret, 0o644)
    victim = subprocess.Popen(["sleep", "600"])
    unix_path = os.path.join(folder, "host.sock")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(unix_path)
    unix.listen()
    os.chmod(unix_path, 0o777)
    abstract = socket.socket(socket.AF_UNIX)
    abstract_name = f"recode-jail-test-{uuid.uuid4().hex}"
    abstract.bind("\0" + abstract_name)
    abstract.listen()
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    yield {"folder": folder, "secret": secret, "victim": victim.pid, "host": os.getpid(), "unix": unix_path,
           "abstract": abstract_name, "tcp": tcp.getsockname()[1], "outside": os.path.join(folder, "written.txt")}
    victim.kill()
    for sock in (unix, abstract, tcp):
        sock.close()
    subprocess.run(["rm", "-rf", folder], check=False)


# (attempt, layer expected to stop it, source printing ESCAPED when it gets through)
ATTEMPTS: list[tuple[str, str, str]] = [
    ("read /etc/passwd", "Landlock", "print('ESCAPED', open('/etc/passwd').read()[:20])"),
    ("list /", "Landlock", "print('ESCAPED', os.listdir('/'))"),
    ("read a host file in /tmp", "Landlock", "print('ESCAPED', open(T['secret']).read())"),
    ("read this test file", "Landlock", f"print('ESCAPED', open({__file__!r}).read()[:20])"),
    ("list the repository", "Landlock", f"print('ESCAPED', os.listdir({os.path.dirname(os.path.dirname(__file__))!r}))"
     ),
    ("write a file in /tmp", "Landlock", "open(T['outside'], 'w').write('x'); print('ESCAPED')"),
    ("append to the Python installation", "Landlock", "open(os.__file__, 'a'); print('ESCAPED')"),
    ("create a file in the Python installation", "Landlock",
     "open(os.path.join(os.path.dirname(os.__file__), 'evil.py'), 'w'); print('ESCAPED')"),
    ("host key in os.environ", "empty environment",
     "print('ESCAPED' if any(SECRET in v for v in os.environ.values()) or set(os.environ) - {'TMPDIR', 'LC_CTYPE'} "
     "else 'environ: ' + ','.join(sorted(os.environ)))"),
    ("read /proc/self/environ", "Landlock", "print('ESCAPED', open('/proc/self/environ').read())"),
    ("read the host's /proc/PID/environ", "Landlock", "print('ESCAPED', open(f\"/proc/{T['host']}/environ\").read())"),
    ("read /proc/1/cmdline", "Landlock", "print('ESCAPED', open('/proc/1/cmdline').read())"),
    ("list /proc", "Landlock", "print('ESCAPED', os.listdir('/proc'))"),
    ("symlink in the temp dir to /etc/passwd", "Landlock",
     "os.symlink('/etc/passwd', 'link'); print('ESCAPED', open('link').read()[:20])"),
    ("hard link a host file into the temp dir", "Landlock", "os.link(T['secret'], 'copy'); print('ESCAPED')"),
    ("chdir / and read a relative path", "Landlock", "os.chdir('/'); print('ESCAPED', open('etc/passwd').read()[:9])"),
    ("chroot", "seccomp", "os.chroot('.'); print('ESCAPED')"),
    ("TCP to Postgres 127.0.0.1:5432", "seccomp", "socket.create_connection(('127.0.0.1', 5432), 2); print('ESCAPED')"),
    ("TCP to Redis 127.0.0.1:6379", "seccomp", "socket.create_connection(('127.0.0.1', 6379), 2); print('ESCAPED')"),
    ("TCP to a host test listener", "seccomp",
     "socket.create_connection(('127.0.0.1', T['tcp']), 2); print('ESCAPED')"),
    ("UDP datagram to 127.0.0.1:53", "seccomp",
     "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 53)); print('ESCAPED')"),
    ("unix socket to a host listener", "seccomp",
     "s = socket.socket(socket.AF_UNIX); s.connect(T['unix']); print('ESCAPED')"),
    ("abstract unix socket to a host listener", "seccomp",
     "s = socket.socket(socket.AF_UNIX); s.connect('\\0' + T['abstract']); print('ESCAPED')"),
    ("socket() through ctypes libc", "seccomp",
     "fd = ctypes.CDLL(None).socket(2, 1, 0); print('ESCAPED' if fd >= 0 else 'refused')"),
    ("os.fork", "seccomp", "pid = os.fork()\nif pid == 0: os._exit(0)\nprint('ESCAPED')"),
    ("os.system", "seccomp", "print('ESCAPED' if os.system('true') == 0 else 'refused')"),
    ("os.posix_spawn /bin/true", "seccomp", "os.posix_spawn('/bin/true', ['true'], {}); print('ESCAPED')"),
    ("subprocess.run", "seccomp", "import subprocess; subprocess.run(['true'], check=True); print('ESCAPED')"),
    ("execv /bin/sh", "seccomp", "os.execv('/bin/sh', ['sh', '-c', 'true']); print('ESCAPED')"),
    ("libc system() through ctypes", "seccomp",
     "rc = ctypes.CDLL(None).system(b'true'); print('ESCAPED' if rc == 0 else 'refused')"),
    ("SIGKILL a host process", "seccomp", "os.kill(T['victim'], signal.SIGKILL); print('ESCAPED')"),
    ("signal 0 to the host", "seccomp", "os.kill(T['host'], 0); print('ESCAPED')"),
    ("signal every process (kill -1)", "seccomp", "os.kill(-1, 0); print('ESCAPED')"),
    ("signal the process group (kill 0)", "seccomp", "os.kill(0, 0); print('ESCAPED')"),
    ("ptrace attach to a host process", "seccomp",
     "rc = ctypes.CDLL(None).ptrace(16, T['victim'], 0, 0); print('ESCAPED' if rc == 0 else 'refused')"),
    ("pidfd_open the host", "seccomp", "os.pidfd_open(T['host']); print('ESCAPED')"),
    ("raise RLIMIT_NPROC", "rlimits (hard) + no capabilities",
     "resource.setrlimit(resource.RLIMIT_NPROC, (100, 100)); print('ESCAPED')"),
    ("raise RLIMIT_NOFILE", "rlimits (hard) + no capabilities",
     "resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1])); "
     "print('ESCAPED')"),
    ("raise the memory limit", "rlimits (soft = hard)",
     "s, h = resource.getrlimit(resource.RLIMIT_AS); resource.setrlimit(resource.RLIMIT_AS, (h * 2, h * 2)); "
     "print('ESCAPED')"),
    ("rlimits of the host (prlimit)", "seccomp",
     "resource.prlimit(T['host'], resource.RLIMIT_NOFILE, (1, 1)); print('ESCAPED')"),
    ("load a C library from /lib", "Landlock",
     "ctypes.CDLL('/lib/x86_64-linux-gnu/libseccomp.so.2'); print('ESCAPED')"),
    ("setuid(0)", "no capabilities + seccomp", "os.setuid(0); print('ESCAPED')"),
    ("new user namespace (unshare)", "seccomp",
     "rc = ctypes.CDLL(None).unshare(0x10000000); print('ESCAPED' if rc == 0 else 'refused')"),
    ("mount a tmpfs", "seccomp",
     "rc = ctypes.CDLL(None).mount(b'none', b'.', b'tmpfs', 0, None); print('ESCAPED' if rc == 0 else 'refused')"),
    ("io_uring_setup", "seccomp",
     "p = ctypes.create_string_buffer(120); rc = ctypes.CDLL(None).syscall(425, 4, p); "
     "print('ESCAPED' if rc >= 0 else 'refused')"),
    ("process_vm_readv on the host", "seccomp",
     "rc = ctypes.CDLL(None).syscall(310, T['host'], None, 0, None, 0, 0); print('ESCAPED' if rc >= 0 else 'refused')"),
    ("list the other workers' temp dirs", "Landlock", "print('ESCAPED', os.listdir('..'))"),
    ("fill the disk with one file", "rlimits (file size)",
     "f = open('big', 'wb')\nfor _ in range(80): f.write(b'x' * 2**20)\nprint('ESCAPED')"),
]

PREAMBLE = "import os, socket, signal, resource, ctypes\nT = {targets!r}\nSECRET = {secret!r}\n"


def _source(targets: dict, body: str) -> str:
    return PREAMBLE.format(targets=targets, secret=SECRET) + body


@pytest.mark.parametrize("attempt,layer,body", ATTEMPTS, ids=[a[0] for a in ATTEMPTS])
def test_escape_attempt_fails(targets, attempt, layer, body):
    result = jail_probe(_source(targets, body))
    assert "ESCAPED" not in result.stdout, (attempt, result)
    assert result.error or "refused" in result.stdout or "environ: " in result.stdout, (attempt, result)
    assert not os.path.exists(targets["outside"])
    os.kill(targets["victim"], 0)  # still alive


def test_at_least_thirty_attempts():
    assert len(ATTEMPTS) >= 30


UNJAILED_CONTROLS = ["read /etc/passwd", "read a host file in /tmp", "list /proc",
                     "TCP to a host test listener", "unix socket to a host listener", "os.fork", "os.system",
                     "signal 0 to the host", "raise RLIMIT_NOFILE", "load a C library from /lib", "chdir / and "
                     "read a relative path", "read the host's /proc/PID/environ"]


def test_the_same_attempts_get_through_without_the_jail(targets):
    """The control: without the jail these attempts succeed, so the jail is what stops them above."""
    bodies = {a: b for a, _, b in ATTEMPTS}
    with WorkerPool(max_workers=1, prestart=0, jail="off") as pool:
        assert pool.jail == "off"
        for attempt in UNJAILED_CONTROLS:
            stdout, error = pool.probe(_source(targets, bodies[attempt]), Limits())
            assert "ESCAPED" in stdout, (attempt, stdout, error)


def test_ordinary_code_runs_in_the_jail():
    result = jail_probe("import json, re, math\nprint(json.dumps({'a': [1, 2]}), re.sub('b', 'c', 'abc'), "
                        "math.factorial(20), sum(range(10**6)))\nopen('notes.txt', 'w').write('kept')\n"
                        "print(open('notes.txt').read(), 'x'.encode('cp1252'), 'é'.encode('latin-1'))")
    assert result.error == ""
    assert result.stdout == "{\"a\": [1, 2]} acc 2432902008176640000 499999500000\nkept b'x' b'\\xe9'\n"


def test_the_worker_runs_as_an_unprivileged_user_without_capabilities():
    result = jail_probe("import os\nprint(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())\n"
                        "import ctypes\nh = (ctypes.c_uint32 * 2)(0x20080522, 0); d = (ctypes.c_uint32 * 6)()\n"
                        "ctypes.CDLL(None).capget(h, d); print(list(d))")
    first, second = result.stdout.splitlines()
    uid, euid, gid, groups = first.split(" ", 3)
    if os.geteuid() == 0:
        assert int(uid) >= 1_500_000_000 and uid == euid == gid and groups == "[]"
    assert second == "[0, 0, 0, 0, 0, 0]"


def test_statements_run_in_the_same_jail():
    """Generated code (RestrictedPython) runs in workers jailed exactly as the probe's."""
    with WorkerPool(max_workers=1, prestart=1) as pool:
        result = pool.run("x = 6 * 7\nprint(x)", {}, {}, Limits())
        assert result.ok and result.stdout == "42\n"
        report = pool.jail_report
        assert report is not None and not report.missing, report
        for layer in ("environment", "filesystem", "network", "seccomp", "capabilities", "rlimits", "uid",
                      "namespaces", "root", "proc", "ipc", "tmp", "lifetime"):
            assert layer in report.layers


def test_pool_refuses_to_start_when_a_required_layer_is_missing():
    report = Report(layers={"network": "x"}, missing={"filesystem": "Landlock is not available"})
    message = report.refusal()
    assert "filesystem" in message and "RECODE_SANDBOX_JAIL=off" in message and "\n" not in message
    assert Report(layers={"filesystem": "x", "network": "y"}, missing={"uid": "z"}).refusal() == ""
    assert issubclass(JailUnavailable, RuntimeError)


def test_jail_mode_is_explicit(monkeypatch):
    monkeypatch.delenv("RECODE_SANDBOX_JAIL", raising=False)
    assert mode() == "on" and mode("off") == "off"
    for typo in ("of", "OFF", "false", "0", ""):
        with pytest.raises(ValueError, match="not a sandbox jail mode"):
            mode(typo)
        monkeypatch.setenv("RECODE_SANDBOX_JAIL", typo)
        with pytest.raises(ValueError, match="RECODE_SANDBOX_JAIL"):
            WorkerPool()
    monkeypatch.setenv("RECODE_SANDBOX_JAIL", "off")
    assert WorkerPool().jail == "off"


def test_probe_time_limit_holds():
    started = time.monotonic()
    result = jail_probe("while True: pass", limits=Limits(max_seconds=1))
    assert result.error.startswith("TimeoutError") and time.monotonic() - started < 5


def test_host_is_untouched(targets):
    jail_probe(f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)")
    os.kill(targets["victim"], 0)
    assert signal.getsignal(signal.SIGINT) is not None


DENY_SYSCALLS = r'''
import ctypes, struct, sys
def insn(code, k, jt=0, jf=0):
    return struct.pack("=HBBI", code, jt, jf, k)
prog = [insn(0x20, 0)]
for nr, err in DENIED:
    prog += [insn(0x15, nr, 0, 1), insn(0x06, 0x00050000 | err)]
prog.append(insn(0x06, 0x7FFF0000))
code = b"".join(prog)
buf = ctypes.create_string_buffer(code, len(code))
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
libc = ctypes.CDLL(None)
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.prctl(22, 2, ctypes.byref(Prog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))), 0, 0) == 0
from recode_graph.cli import main
sys.exit(main(["doctor"]))
'''


def _doctor_without(denied: list[tuple[int, int]], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``recode doctor`` in a host whose kernel interface lacks some system calls (as in a container whose
    seccomp profile forbids them), inherited by the zygote and its workers."""
    return subprocess.run([sys.executable, "-c", f"DENIED = {denied!r}\n" + DENY_SYSCALLS], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


@pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64", reason="x86_64 syscall numbers")
def test_without_namespaces_the_network_layer_still_holds():
    out = _doctor_without([(272, 1)])  # unshare: EPERM (a container without user namespaces / CAP_SYS_ADMIN)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "MISSING  namespaces" in out.stdout and "seccomp denies socket()" in out.stdout
    assert "MISSING  tmp" in out.stdout  # no mount namespace: a directory on the host's disk


@pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64", reason="x86_64 syscall numbers")
def test_without_landlock_the_pool_refuses_to_start():
    enosys = [(nr, 38) for nr in (444, 445, 446)]  # a kernel without Landlock
    out = _doctor_without(enosys)
    assert out.returncode == 1, out.stdout + out.stderr
    refused = [line for line in out.stdout.splitlines() if line.startswith("sandbox: refused")]
    assert len(refused) == 1 and "filesystem layer" in refused[0] and "RECODE_SANDBOX_JAIL=off" in refused[0]
    opted_out = _doctor_without(enosys, {"RECODE_SANDBOX_JAIL": "off"})
    assert opted_out.returncode == 0 and "jail off (explicit opt-out)" in opted_out.stdout


@pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64", reason="x86_64 syscall numbers")
def test_without_seccomp_the_pool_refuses_to_start():
    out = _doctor_without([(317, 22)])  # seccomp(): EINVAL, as on a kernel built without it
    assert out.returncode == 1, out.stdout + out.stderr
    refused = [line for line in out.stdout.splitlines() if line.startswith("sandbox: refused")]
    assert len(refused) == 1 and "seccomp layer" in refused[0] and "RECODE_SANDBOX_JAIL=off" in refused[0], refused
    opted_out = _doctor_without([(317, 22)], {"RECODE_SANDBOX_JAIL": "off"})
    assert opted_out.returncode == 0 and "jail off (explicit opt-out)" in opted_out.stdout


def test_a_machine_without_a_syscall_table_fails_closed():
    why = "no seccomp syscall table for the riscv64 architecture (known: x86_64, aarch64)"
    report = Report(layers={"filesystem": "x", "network": "y"}, missing={"seccomp": why})
    message = report.refusal()
    assert "seccomp layer" in message and "riscv64" in message and "RECODE_SANDBOX_JAIL=off" in message
    assert "\n" not in message
