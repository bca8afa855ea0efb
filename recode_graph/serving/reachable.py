"""Before any server process starts: is the Redis of the deployment there? One line saying why not.

Speaks Redis's wire protocol over a socket (AUTH when the URL has a password, SELECT the URL's database, PING),
so it needs no Redis client in the environment that starts the servers."""

from __future__ import annotations

import socket
import ssl
from urllib.parse import unquote, urlparse


def _command(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(out)


def _reply(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(512)
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data.decode(errors="replace").strip()


def redis_problem(url: str, timeout: float = 5.0) -> str | None:
    """None when the Redis at ``url`` answers PING, else what is wrong (one line, no password)."""
    parsed = urlparse(url)
    where = f"{parsed.hostname or parsed.path}:{parsed.port or 6379}" if parsed.scheme != "unix" else parsed.path
    try:
        if parsed.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(parsed.path)
        else:
            sock = socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=timeout)
            if parsed.scheme == "rediss":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parsed.hostname)
        with sock:
            commands = []
            if parsed.password:
                user = [unquote(parsed.username)] if parsed.username else []
                commands.append(_command("AUTH", *user, unquote(parsed.password)))
            db = parsed.path.strip("/") if parsed.scheme != "unix" else ""
            if db:
                commands.append(_command("SELECT", db))
            commands.append(_command("PING"))
            for command in commands:
                sock.sendall(command)
                answer = _reply(sock)
                if answer.startswith("-"):
                    return f"Redis at {where} refused: {answer[1:]}"
    except OSError as exc:  # refused, unreachable, timed out, closed
        return f"no Redis at {where}: {exc.strerror or exc}"
    return None
