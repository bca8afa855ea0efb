"""``recode doctor``: what holds generated code on this machine (the sandbox jail's layers)."""

from __future__ import annotations

import argparse
from typing import Any

from recode_graph.cli.common import EXIT_FAILED, EXIT_OK, CliError


def cmd_doctor(args: argparse.Namespace) -> int:
    """Start a worker pool as the agent would, print each jail layer (held or missing) and the verdict."""
    from recode_graph.sandbox.jail import JailUnavailable
    from recode_graph.sandbox.restricted import Limits
    from recode_graph.sandbox.workers import WorkerPool

    try:
        pool = WorkerPool(max_workers=1, prestart=0)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    with pool:
        try:
            result = pool.run("x = 1", {}, {}, Limits())
        except JailUnavailable as exc:
            report = pool.jail_report
            _print_layers(report.layers if report else {}, report.missing if report else {})
            print(f"sandbox: refused: {exc}")
            return EXIT_FAILED
        report = pool.jail_report
    layers, missing = (report.layers, report.missing) if report else ({}, {})
    _print_layers(layers, missing)
    state = "jail off (explicit opt-out)" if pool.jail == "off" else "jail on"
    print(f"sandbox: {state}; a statement ran: {'yes' if result.ok else 'no: ' + result.error}")
    return EXIT_OK if result.ok else EXIT_FAILED


def _print_layers(layers: dict[str, str], missing: dict[str, str]) -> None:
    for name, how in layers.items():
        print(f"  ok       {name:<14} {how}")
    for name, why in missing.items():
        print(f"  MISSING  {name:<14} {why}")


def add_parser(sub: Any) -> None:
    doctor = sub.add_parser("doctor", help="show what holds generated code here (sandbox jail layers)",
                            description="Start a sandbox worker and print the OS jail layers that hold on this "
                            "machine (RECODE_SANDBOX_JAIL=off opts out of the jail).")
    doctor.set_defaults(handler=cmd_doctor)
