"""Start and stop one py4j-connected JVM (used by the ScienceWorld adapter).

The JVM is stopped by ``close()``, when its owner is garbage-collected, and at interpreter exit
(``weakref.finalize``), so an adapter never leaks its Java process.
"""

from __future__ import annotations

import subprocess
import weakref
from typing import Any


def _stop(gateway: Any, proc: subprocess.Popen[bytes]) -> None:
    try:
        gateway.shutdown()
    except Exception:  # noqa: BLE001 - the JVM may already be gone
        pass
    if proc.poll() is None:
        try:  # die_on_exit JVMs exit when their stdin gets a newline / closes
            if proc.stdin is not None:
                proc.stdin.write(b"\n")
                proc.stdin.flush()
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class Jvm:
    """A JVM running ``jar`` behind a py4j gateway; ``entry(path)`` reaches a Java class."""

    def __init__(self, jar: str, cwd: str, javaopts: list[str]) -> None:
        from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway

        port, proc = launch_gateway(classpath=jar, die_on_exit=True, cwd=cwd, javaopts=javaopts,
                                    return_proc=True)
        self._proc: subprocess.Popen[bytes] = proc
        self.gateway = JavaGateway(gateway_parameters=GatewayParameters(auto_field=True, port=port),
                                   java_process=proc)
        self._finalizer = weakref.finalize(self, _stop, self.gateway, proc)

    @property
    def pid(self) -> int:
        return int(self._proc.pid)

    @property
    def alive(self) -> bool:
        return self._finalizer.alive and self._proc.poll() is None

    def close(self) -> None:
        self._finalizer()
