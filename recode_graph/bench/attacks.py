"""Attacks on the sandbox, each run as the first statement of an episode in the worker pool.

    python -m recode_graph.bench.attacks [--seconds 1] [--memory-mb 256]

Prints, per attack: how the statement ended (the error the repair prompt gets), the episode's wall time
(one statement at the limit plus the repair) and how much the host's RSS grew. Every episode must end with
the repaired answer. ``tests/test_workers.py`` runs the same list.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from recode_graph import Limits, ScriptedChatModel, create_recode_agent, expansion

TIMEOUT = "timed out after"
MEMORY = "memory limit"

# name → (code, the error the repair prompt must show: one of these)
ATTACKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "endless C iterator": ("x = sum(iter(int, 1))", (TIMEOUT,)),
    "huge power": ("x = pow(10, 10**8)", (TIMEOUT,)),
    "huge factorial": ("x = math.factorial(10**7)", (TIMEOUT,)),
    "squaring loop": ("x = 3\nwhile True:\n    x = x * x", (TIMEOUT,)),
    "budget hook removed by RecursionError": (
        "if True:\n    f = lambda n: f(n + 1)\n    try:\n        f(0)\n    except Exception:\n        pass\n"
        "    while True:\n        pass", (TIMEOUT,)),
    "budget caught via mro": (
        "while True:\n    try:\n        while True:\n            pass\n    except ValueError.mro()[2]:\n        pass",
        (TIMEOUT,)),
    "untimed pattern from a sub callback": (  # a callback gets a plain match: no .re
        "s = re.sub('(a|a)*c|x', lambda m: str(m.re.search('a' * 60 + 'b')), 'x')", ("has no attribute 're'",)),
    "catastrophic pattern from a sub callback": (  # the facade's re inside a callback is timed too
        "s = re.sub('x', lambda m: str(re.search('(a|a)*c|x', 'a' * 60 + 'b')), 'x')",
        ("ran out of time", TIMEOUT)),  # the host's kill only when a loaded machine delays the worker's report
    "padding via %": ("x = '%0*d' % (2*10**9, 1)", (MEMORY,)),
    "padding via f-string": ("x = f'{1:>{2*10**9}}'", (MEMORY,)),
    "padding via unbound str method": ("x = str.ljust('a', 2*10**9)", (MEMORY,)),
    # on a loaded machine the wall limit can come before the memory limit: either stops it
    "replace growth": ("s = 'ab' * 1000\nwhile True:\n    s = s.replace('a', 'aaaa')", (MEMORY, TIMEOUT)),
    "list of lists": ("x = [[0] * 10**7 for i in range(100)]", (MEMORY, TIMEOUT)),
    "dict.fromkeys loop": ("d = []\nfor i in range(1000):\n    d.append(dict.fromkeys(range(10**6)))",
                           (MEMORY, TIMEOUT)),  # whichever limit comes first
    "huge variable": ("x = 'a' * 9_000_000", ("result too large",)),
}


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def attacked_agent(code: str, limits: Limits, **options: Any) -> tuple[Any, ScriptedChatModel]:
    """An agent whose model answers with ``code`` first and with ``final_answer('recovered')`` when repairing."""
    model = ScriptedChatModel(responses=[expansion("attack", code), expansion("repair", "final_answer('recovered')")])
    return create_recode_agent(model, limits=limits, **options), model


def run_attack(code: str, limits: Limits) -> dict[str, Any]:
    agent, _ = attacked_agent(code, limits)
    before = rss_mb()
    started = time.monotonic()
    out = agent.invoke({"instruction": "x"})
    return {"seconds": time.monotonic() - started, "rss_mb": rss_mb() - before, "out": out,
            "error": next((n["error"] for n in out["tree"].values() if n.get("error")), "")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--memory-mb", type=int, default=256)
    args = parser.parse_args(argv)
    limits = Limits(max_seconds=args.seconds, max_memory_mb=args.memory_mb, max_result_bytes=4 * 2**20)
    run_attack("x = 1", limits)  # start the pool
    print(f"limits: {args.seconds:g} s, {args.memory_mb} MB, results 4 MB; host RSS {rss_mb():.0f} MB at start")
    print("| attack | outcome | episode s | host RSS MB |\n|---|---|---|---|")
    for name, (code, _) in ATTACKS.items():
        r = run_attack(code, limits)
        outcome = r["error"].splitlines()[-1][:70] if r["error"] else "(no error)"
        ended = "" if r["out"].get("answer") == "recovered" else f" [episode: {r['out'].get('status')}]"
        print(f"| {name} | {outcome}{ended} | {r['seconds']:.2f} | {r['rss_mb']:+.0f} |")


if __name__ == "__main__":
    main()
