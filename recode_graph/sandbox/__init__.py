"""The sandbox: where model-written statements run.

Three layers. ``restricted`` is the language policy (RestrictedPython compile, guarded builtins, ``re`` /
``json`` / ``math`` facades, operation and size budgets, clear errors for the model). ``workers`` / ``worker``
are the process boundary: a pool of pre-started worker processes under hard wall-time, memory and
result-size limits that call the host's primitives back over a pipe (``wire`` is that pipe's plain-data
encoding; ``exits`` says why a worker died: signal, memory, exit status). ``plain`` turns values into
checkpoint-safe data and back; ``regexes`` is the time-limited ``re``.
``jail`` (with ``namespaces``, ``landlock`` and ``seccomp``) is the OS jail every worker enters before it runs a
statement; ``jail_probe`` (``probe``) runs plain CPython in a jailed worker, for tests of the jail only.
"""

from typing import Any

from recode_graph.sandbox.restricted import (
    Budget,
    EpisodeStop,
    ExecResult,
    Limits,
    compile_errors,
    module_facades,
    run_code,
    safe_builtins_dict,
)

__all__ = ["Budget", "EpisodeStop", "ExecResult", "Limits", "compile_errors", "jail_probe", "module_facades",
           "run_code", "safe_builtins_dict"]


def __getattr__(name: str) -> Any:  # jail_probe loads the host's pool only when asked for (never in a worker)
    if name == "jail_probe":
        from recode_graph.sandbox.probe import jail_probe

        return jail_probe
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
