"""Callbacks of the ``re`` facade get safe match objects only (issue 21): no raw ``regex`` match or pattern, so no
untimed regex is reachable from a ``sub`` callback. Real worker processes."""

from __future__ import annotations

import time

import pytest

from recode_graph.sandbox import Limits, run_code
from recode_graph.sandbox.regexes import Regex, SavedMatch
from recode_graph.sandbox.workers import WorkerPool

LIMITS = Limits(max_seconds=2)  # the catastrophic regex is stopped after 2 s
ROOMY = Limits(max_seconds=60)  # statements that end at once: a wide margin for a loaded machine (load 13)
CATASTROPHIC = "'(a|a)*c|x', '', 'a' * 60 + 'b'"  # hours without a time limit


@pytest.fixture(scope="module")
def pool() -> WorkerPool:
    with WorkerPool(max_workers=1, prestart=1) as started:
        yield started


@pytest.mark.parametrize("escape", ["m.re", "m.re.sub(" + CATASTROPHIC + ")", "m.re.pattern", "m.pos", "m.regs",
                                    "m.expand('x')", "m.re.search('a' * 60 + 'b')"])
def test_a_callback_cannot_reach_the_engine(pool: WorkerPool, escape: str) -> None:
    started = time.monotonic()
    for code in (f"s = re.sub('(a|a)*c|x', lambda m: str({escape}), 'x')",
                 f"p = re.compile('x')\ns = p.subn(lambda m: str({escape}), 'x')"):
        result = pool.run(code, {}, {}, ROOMY)
        assert not result.ok and result.error_type == "AttributeError", result.error
        assert "has no attribute" in result.error and "a match offers group" in result.error
    assert time.monotonic() - started < 2 * ROOMY.max_seconds  # refused, not stopped by the time limit


def test_callbacks_get_what_they_read(pool: WorkerPool) -> None:
    code = ("a = re.sub(r'(?P<n>\\d+)', lambda m: str(int(m.group('n')) * 2), 'a1 b22')\n"
            "b = re.compile('b').subn(lambda m: m.string.upper() + str(m.span()) + str(m[0]), 'ab')\n"
            "c = re.sub('(x)(y)?', lambda m: repr(m.groups('-')) + str(m.lastindex) + type(m).__name__, 'x')")
    result = pool.run(code, {}, {}, ROOMY)
    assert not result.ok and "__name__" in result.error  # dunder names stay refused by RestrictedPython
    result = pool.run(code.rsplit("\n", 1)[0], {}, {}, ROOMY)
    assert result.ok, result.error
    assert result.variables["a"] == "a2 b44" and result.variables["b"] == ["aAB(1, 2)b", 1]


def test_regexes_inside_a_callback_run_under_the_time_limit(pool: WorkerPool) -> None:
    code = f"s = re.sub('x', lambda m: re.sub({CATASTROPHIC}), 'x')"
    result = run_code(code, {}, {}, LIMITS)  # the facade alone (no host to kill anything) stops it
    assert not result.ok and "ran out of time" in result.error, result.error
    started = time.monotonic()
    result = pool.run(code, {}, {}, LIMITS)
    # in a worker the facade reports first ("ran out of time"), unless a loaded machine eats the 0.5 s grace and
    # the host's kill comes first ("timed out"): either way the regex stopped at the statement's limit
    assert not result.ok and ("ran out of time" in result.error or "timed out after" in result.error), result.error
    assert time.monotonic() - started < LIMITS.max_seconds + 60  # not hours: a generous margin for a loaded machine


def test_the_facade_alone_hands_out_saved_matches() -> None:
    seen: list[object] = []
    Regex().sub("(a)", lambda m: seen.append(m) or "b", "aa")
    assert len(seen) == 2 and all(type(m) is SavedMatch for m in seen)
    result = run_code("s = re.sub('a', lambda m: str(m.re), 'a')", {}, {}, LIMITS)
    assert not result.ok and "has no attribute 're'" in result.error
