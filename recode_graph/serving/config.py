"""What ``recode serve`` reads from the served langgraph.json besides the graphs: its ``auth`` handler (none
means every caller is one anonymous user) and its ``env`` (variables for the server processes, as
``langgraph dev`` applies them: a mapping, or the path of a .env file next to the config)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The served config cannot be used; one line naming the key."""


@dataclass(frozen=True)
class ServedConfig:
    auth_path: str = ""  # langgraph.json "auth": {"path": "./auth.py:auth"}; "" when none
    env: dict[str, str] = field(default_factory=dict)


def read(path: Path) -> ServedConfig:
    """The ``auth`` and ``env`` of the config at ``path``; ConfigError for a value that cannot be right."""
    try:
        data: Any = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read it as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    auth = data.get("auth") or {}
    if not isinstance(auth, dict) or not isinstance(auth.get("path", ""), str):
        raise ConfigError(f"{path}: `auth` must be an object with a `path` such as \"./auth.py:auth\"")
    if auth and not auth.get("path"):
        raise ConfigError(f"{path}: `auth` has no `path` (e.g. \"./auth.py:auth\"); without it every caller "
                          "would be one anonymous user")
    return ServedConfig(auth_path=auth.get("path", ""), env=_env(path, data.get("env")))


def _env(config: Path, value: Any) -> dict[str, str]:
    if not value:
        return {}
    if isinstance(value, dict):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ConfigError(f"{config}: `env` values must be strings")
        return dict(value)
    if isinstance(value, str):
        file = (config.parent / value).resolve()
        if not file.is_file():
            raise ConfigError(f"{config}: `env` names {file}, which is not a file")
        from dotenv import dotenv_values

        return {k: v for k, v in dotenv_values(file).items() if v is not None}
    raise ConfigError(f"{config}: `env` must be an object or the path of a .env file")


def loopback(host: str) -> bool:
    """Whether ``host`` (a ``--host`` value) is reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume the network can reach it


def auth_warning(config: ServedConfig, host: str) -> str | None:
    """The line ``recode serve`` prints at start when no auth is configured (louder off loopback), or None."""
    if config.auth_path:
        return None
    if loopback(host):
        return ("recode serve: warning: no `auth` in the config: every caller is one anonymous user who can run, "
                "read, resume and delete every thread; fine on this machine only (docs/serving.md, Authentication)")
    return (f"recode serve: WARNING: NO AUTH ON {host}: ANYONE WHO REACHES THESE PORTS CAN RUN AGENTS WITH THIS "
            "SERVER'S MODELS AND KEYS AND READ, RESUME AND DELETE EVERY THREAD; add `auth` to the config "
            "(docs/serving.md, Authentication) or bind to 127.0.0.1")
