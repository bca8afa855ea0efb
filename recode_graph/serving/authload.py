"""Auth fails closed: Aegra loads the config's ``auth`` handler when the first request arrives and, when it
cannot (a typo in the path, an import error), logs a warning and serves every caller as one anonymous user.
``load_auth_or_fail`` loads it while the server process starts instead and stops the process when a
configured handler does not load, so a server with a broken ``auth`` never answers."""

from __future__ import annotations


class AuthLoadError(RuntimeError):
    """The config names an auth handler that could not be loaded."""


def load_auth_or_fail() -> None:
    from aegra_api.config import load_auth_config
    from aegra_api.core.auth_middleware import get_auth_instance

    configured = load_auth_config() or {}
    if not isinstance(configured, dict) or not configured:
        return
    path = configured.get("path")
    if not path:
        raise AuthLoadError("the config's `auth` has no `path`: refusing to serve every caller as one anonymous user")
    if get_auth_instance() is None:
        raise AuthLoadError(f"the config's auth handler {path!r} did not load (see the log above): refusing to "
                            "serve every caller as one anonymous user")
