"""The sandbox blocks escapes with clear errors and stops runaway code, without touching sys.stdout."""

from __future__ import annotations

import json
import re
import sys
import threading

import pytest

from recode_graph.engine.code import InvalidExpansion, validate
from recode_graph.sandbox import Limits, run_code

KNOWN = {"print", "len", "range", "run"}

ESCAPES_STATIC = {
    "import os": "Imports are not allowed",
    "from os import path": "Imports are not allowed",
    "x = __import__('os')": "not available",
    "x = ().__class__.__bases__": "invalid attribute name",
    "f = open('/etc/passwd')": "open() is not available",
    "eval('1+1')": "eval() is not available",
    "exec('x = 1')": "exec() is not available",
    "c = compile('1', 'f', 'eval')": "compile() is not available",
    "g = globals()": "globals() is not available",
    "v = getattr(1, '__class__')": "getattr() is not available",
    "def f():\n    pass": "Do not define functions",
    "class A:\n    pass": "Do not define classes",
    "try:\n    x = 1\nexcept:\n    pass": "not bare",
    "try:\n    x = 1\nexcept BaseException:\n    pass": "not bare",
    "x = _secret": "invalid variable name",
}


@pytest.mark.parametrize("code,message", list(ESCAPES_STATIC.items()))
def test_escapes_are_rejected_with_a_clear_hint(code: str, message: str) -> None:
    with pytest.raises(InvalidExpansion, match=re.escape(message)):
        validate(code, KNOWN)


@pytest.mark.parametrize("code", [
    "total = sum(x for x in items)", "f = lambda n: n + 1\nprint(f(2))",
    "try:\n    v = int(s)\nexcept ValueError as e:\n    print(e)",
    "if (n := len(items)) > 1:\n    print(n)", "for i, item in enumerate(items):\n    print(i, item)",
    "found = re.findall(r'a', s)\nprint(math.pi, json.dumps(found))", "x = find_it(items)\nprint(x)",
])
def test_code_that_reads_only_defined_names_is_accepted(code: str) -> None:
    validate(code, KNOWN | {"sum", "int", "enumerate", "ValueError", "re", "math", "json"}, variables={"items", "s"})


@pytest.mark.parametrize("code,names", [
    ("print(items)", "items"), ("for place in locations:\n    run(place)", "locations"),
    ("x = obj.name + other", "obj, other"), ("run(f'take {thing}')", "thing"),
])
def test_reading_an_undefined_name_is_rejected_with_the_variables_that_exist(code: str, names: str) -> None:
    with pytest.raises(InvalidExpansion, match=re.escape(f"Your code reads {names}, which")) as err:
        validate(code, KNOWN, variables={"instruction", "observation"})
    assert "(variables: instruction, observation)" in str(err.value)


@pytest.mark.parametrize("code,error", [
    ("x = '{0.__class__}'.format(1)", "format"),
    ("y = [].__class__", "__class__"),
    ("z = len.__self__", "__self__"),
])
def test_runtime_escapes_fail_inside_the_sandbox(code: str, error: str) -> None:
    res = run_code(code, {}, {})
    assert not res.ok
    assert error in res.error or "SyntaxError" in res.error


def test_dunder_getattr_via_string_is_blocked() -> None:
    # getattr is not a builtin of the sandbox at all: a NameError the repair prompt can explain
    res = run_code("x = getattr(1, '__class__')", {}, {})
    assert not res.ok and "getattr" in res.error


@pytest.mark.parametrize("code", [
    "while True: pass",
    "i = 0\nwhile True:\n    try:\n        i += 1\n    except Exception:\n        pass",
    "n = 0\nfor a in range(10**6):\n    for b in range(10**6):\n        n += 1",
])
def test_runaway_loops_hit_the_operation_budget(code: str) -> None:
    res = run_code(code, {}, {}, Limits(max_lines=100_000, max_seconds=5))
    assert not res.ok and res.error_type == "BudgetExceeded"


def test_time_budget_stops_slow_code() -> None:
    res = run_code("while True:\n    x = sorted(range(100000))", {}, {}, Limits(max_lines=10**12, max_seconds=0.5))
    assert not res.ok and "time budget" in res.error


@pytest.mark.parametrize("code", [
    "f = lambda n: f(n + 1)\nf(0)",
    "x = [0] * 10\nwhile True:\n    x = x + x",
    "s = 'a' * (10**10)",
    "t = sum(range(10**10))",
    "u = 'a'.ljust(10**10)",
    "v = 10 ** (10**8)",
])
def test_recursion_and_huge_values_are_stopped(code: str) -> None:
    res = run_code(code, {}, {}, Limits(max_seconds=5))
    assert not res.ok
    assert res.error_type in {"RecursionError", "MemoryError", "BudgetExceeded"}


def test_output_is_capped_and_private() -> None:
    before = sys.stdout
    res = run_code("for i in range(10000):\n    print('line', i)", {}, {}, Limits(max_output=500, max_seconds=120))
    assert sys.stdout is before
    assert res.ok and len(res.stdout) < 600 and "[output truncated]" in res.stdout


def test_concurrent_runs_keep_their_own_output_and_variables() -> None:
    results: dict[str, object] = {}

    def work(tag: str) -> None:
        code = "acc = []\nfor i in range(3000):\n    acc.append(i)\n    print(tag)"
        results[tag] = run_code(code, {"tag": tag}, {}, Limits(max_seconds=120))  # 11 s at load 13 (issue 32)

    threads = [threading.Thread(target=work, args=(t,)) for t in ("AAA", "BBB")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for tag in ("AAA", "BBB"):
        res = results[tag]
        other = "BBB" if tag == "AAA" else "AAA"
        assert res.ok and other not in res.stdout and res.variables["tag"] == tag  # type: ignore[attr-defined]


def test_variables_are_copied_and_unplain_values_dropped() -> None:
    original = {"items": [1, 2]}
    res = run_code("items.append(3)\nf = lambda: 1\nz = zip('ab', 'cd')", original, {})
    assert res.ok
    assert original == {"items": [1, 2]} and res.variables["items"] == [1, 2, 3]
    assert "f" not in res.variables and "z" not in res.variables and "z" in res.objects
    assert any("'z'" in n for n in res.notes)


def test_regex_matches_and_patterns_survive_as_plain_data() -> None:
    code = ("m = re.search(r'(?P<n>\\d+) (apples)?(pears)?', text)\npat = re.compile(r'[a-z]+ \\d+', re.I)\n"
            "ms = [re.match(r'(\\w)', w) for w in ['x1', 'y2']]\nmiss = re.search('zzz', text)\nshown = repr(m)")
    res = run_code(code, {"text": "I have 41 apples"}, {})
    assert res.ok and not res.objects and not res.notes
    stored = json.loads(json.dumps(res.variables))  # JSON-safe: what a checkpoint and the server API hold
    assert stored["miss"] is None and stored["m"]["$re.Match"]["string"] == "I have 41 apples"
    use = ("a = (m.group(), m.group(1), m[2], m.group('n', 3), m.groups('-'), m.groupdict(), m.span(1), m.start(),"
           " m.end(2), m.lastindex, m.lastgroup, bool(m), m.string)\n"
           "b = pat.findall('Desk 1 and shelf 2')\nc = [x.group(1) for x in ms]\nd = repr(m)")
    again = run_code(use, stored, {})
    real = re.search(r"(?P<n>\d+) (apples)?(pears)?", "I have 41 apples")
    assert real is not None and again.ok, again.error
    assert again.variables["a"] == [real.group(), real.group(1), real[2], list(real.group("n", 3)),
                                    list(real.groups("-")), real.groupdict(), list(real.span(1)), real.start(),
                                    real.end(2), real.lastindex, real.lastgroup, True, real.string]
    assert again.variables["b"] == ["Desk 1", "shelf 2"] and again.variables["c"] == ["x", "y"]
    assert again.variables["d"] == repr(real) == res.variables["shown"]  # the same before and after a checkpoint
    bad = run_code("m.group(7)", stored, {})
    assert not bad.ok and "IndexError: no such group" in bad.error


def test_allowed_python_works() -> None:
    code = ("data = json.loads('{\"a\": [1, 2, 3]}')\nfound = re.findall(r'\\d', 'a1b2')\n"
            "root = math.sqrt(16)\npairs = {k: v for k, v in zip('ab', (1, 2))}\nprint(sorted(pairs))")
    res = run_code(code, {}, {})
    assert res.ok, res.error
    assert res.variables["found"] == ["1", "2"] and res.variables["root"] == 4.0
    assert res.variables["data"] == {"a": [1, 2, 3]} and "['a', 'b']" in res.stdout


def test_missing_attribute_is_an_attribute_error() -> None:
    res = run_code("goal = None\nname = goal.group(1)", {}, {})
    assert not res.ok and "AttributeError: 'NoneType' object has no attribute 'group'" in res.error


@pytest.mark.parametrize("code", [
    "m = re.search(r'^(a|a)*$', 'a' * 40 + 'b')",  # catastrophic backtracking: hours with the stdlib engine
    "p = re.compile(r'^(a|a)*$')\nm = p.match('a' * 40 + 'b')",
    "found = re.findall(r'^(a|a)*$', s)",
])
def test_runaway_regexes_stop_at_the_time_budget(code: str) -> None:
    import time

    started = time.perf_counter()
    res = run_code(code, {"s": "a" * 40 + "b"}, {}, Limits(max_seconds=0.5))
    assert time.perf_counter() - started < 8  # stopped at 0.5 s of its budget (margin for a loaded machine)
    assert not res.ok and res.error_type == "RegexTimeout" and "write a simpler pattern" in res.error


def test_a_checkpointed_pattern_keeps_the_time_limit() -> None:
    saved = run_code("p = re.compile(r'^(a|a)*$', re.I)", {}, {})
    assert saved.ok and saved.variables["p"]["$re.Pattern"] == "^(a|a)*$"
    res = run_code("ok = p.match('AAA') is not None\nm = p.match('a' * 40 + 'b')", saved.variables, {},
                   Limits(max_seconds=0.5))
    assert res.error_type == "RegexTimeout"
    assert run_code("ok = bool(p.fullmatch('AaA'))", saved.variables, {}).variables["ok"] is True
