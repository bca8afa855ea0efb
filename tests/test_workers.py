"""Statements run in limited worker processes: attacks end as repaired statement errors, the host stays live."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from langchain_core.tools import tool

from recode_graph import Limits, ScriptedChatModel, create_recode_agent, expansion
from recode_graph.bench.attacks import ATTACKS, run_attack
from recode_graph.bench.attacks import attacked_agent as bench_agent
from recode_graph.engine.code import MAX_CODE, InvalidExpansion, validate
from recode_graph.sandbox.workers import WorkerPool, default_pool

LIMITS = Limits(max_seconds=1.0, max_memory_mb=256, max_result_bytes=4 * 2**20)
WALL = LIMITS.max_seconds + 0.5  # the host kills a stuck worker at max_seconds + GRACE


@pytest.fixture(autouse=True, scope="module")
def warm_pool() -> None:
    """Start the process-wide pool once, so the timings below are the statements', not the pool's start."""
    assert default_pool().run("x = 1", {}, {}, LIMITS).ok


def attacked_agent(code: str, **options: Any) -> tuple[Any, ScriptedChatModel]:
    return bench_agent(code, LIMITS, **options)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_attack_ends_as_a_repaired_statement_error_within_the_wall_limit(name: str) -> None:
    code, messages = ATTACKS[name]
    r = run_attack(code, LIMITS)
    out = r["out"]
    assert out["status"] == "success" and out["answer"] == "recovered", out.get("reason")
    repaired = [n for n in out["tree"].values() if n.get("mode") == "repair"]
    assert repaired and any(m in r["error"] for m in messages), r["error"]
    print(f"{name}: {r['seconds']:.2f} s, host RSS {r['rss_mb']:+.0f} MB")
    assert r["seconds"] < WALL + 6.0, r["seconds"]  # one statement at the limit plus the engine's work (load 13)
    assert r["rss_mb"] < 200, r["rss_mb"]


def test_a_lone_surrogate_and_a_deep_expression_do_not_crash_the_run(tmp_path: Any) -> None:
    from recode_graph.persistence.checkpointers import sqlite_saver

    deep = "x = " + "-" * 60_000 + "1"
    model = ScriptedChatModel(responses=[
        expansion("", deep), expansion("", "x = '\\ud800'\nprint(x)\nfinal_answer(x)"),
        expansion("", "print('\\ud800')\nfinal_answer('\\ud800')")])
    agent = create_recode_agent(model, limits=LIMITS, checkpointer=sqlite_saver(tmp_path / "c.sqlite"))
    out = agent.invoke({"instruction": "x"}, {"configurable": {"thread_id": "t"}})
    assert out["status"] == "success"
    assert "nests expressions too deeply" in model.calls[1]
    assert "x" not in out["variables"]  # not storable as UTF-8: the statement fails, the model repairs it
    assert "a variable cannot be stored: x: text with a lone surrogate" in model.calls[2]
    assert out["answer"] == "\\ud800"  # escaped: the answer is stored


def test_final_answer_cannot_be_caught_and_replaced() -> None:
    code = "try:\n    final_answer('first')\nexcept ValueError.mro()[2]:\n    pass\nfinal_answer('second')"
    model = ScriptedChatModel(responses=[expansion("", code)])
    out = create_recode_agent(model, limits=LIMITS).invoke({"instruction": "x"})
    assert out["status"] == "success" and out["answer"] == "first"
    assert [s["args"] for s in out["trajectory"]] == [{"text": "first"}]


def test_the_host_keeps_ticking_while_a_worker_is_stuck_in_a_c_call() -> None:
    gaps: list[float] = []
    stop = threading.Event()

    def heartbeat() -> None:
        last = time.monotonic()
        while not stop.wait(0.02):
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    agent, _ = bench_agent("x = sum(iter(int, 1))", Limits(max_seconds=4, max_memory_mb=256))
    beat = threading.Thread(target=heartbeat)
    beat.start()
    try:
        out = agent.invoke({"instruction": "x"})
    finally:
        stop.set()
        beat.join()
    assert out["answer"] == "recovered"
    assert len(gaps) > 20 and max(gaps) < 2.0, max(gaps)  # a blocked host would show a gap of 4 s


def test_an_attacked_episode_does_not_hold_up_a_concurrent_one() -> None:
    @tool
    def bump(value: int) -> int:
        """Return value + 1."""
        return value + 1

    steps = "\n".join(["v = bump(0)"] + ["v = bump(v)"] * 9) + "\nfinal_answer(str(v))"
    calm = create_recode_agent(ScriptedChatModel(responses=[expansion("", steps)]), tools=[bump], limits=LIMITS)
    attacked, _ = bench_agent("x = sum(iter(int, 1))", Limits(max_seconds=6, max_memory_mb=256))

    async def both() -> tuple[float, float, Any]:
        async def timed(agent: Any) -> tuple[float, Any]:
            started = time.monotonic()
            out = await agent.ainvoke({"instruction": "x"})
            return time.monotonic() - started, out

        (slow, bad), (fast, good) = await asyncio.gather(timed(attacked), timed(calm))
        assert bad["answer"] == "recovered"
        return slow, fast, good

    slow, fast, good = asyncio.run(both())
    assert good["answer"] == "10"
    assert slow >= 6 and fast < 6, (slow, fast)  # the calm one does not wait for the stuck one (margin: load 13)


def test_variables_cross_as_plain_data_and_unplain_values_stay_with_their_worker() -> None:
    model = ScriptedChatModel(responses=[expansion("", (
        "s = {1, 2}\nd = {1: 'a', '$x': [1.5, None, True]}\nbig = 10**30\nm = re.search(r'(\\d+)', 'n 42')\n"
        "it = iter([1, 2, 3])\nfirst = next(it)\nsecond = next(it)\n"
        "final_answer(str((sorted(s), d[1], d['$x'], big % 7, m.group(1), first, second)))"))])
    out = create_recode_agent(model, limits=LIMITS).invoke({"instruction": "x"})
    assert out["answer"] == str(([1, 2], "a", [1.5, None, True], 10**30 % 7, "42", 1, 2))
    # the state holds JSON with tags for what JSON cannot hold exactly (recode_graph.sandbox.plain)
    assert out["variables"]["s"] == {"$set": [1, 2]} and out["variables"]["big"] == {"$int": str(10**30)}
    assert out["variables"]["d"] == {"$dict": {"keys": [1, "$x"], "values": ["a", [1.5, None, True]]}}
    assert "it" not in out["variables"]


def test_an_own_pool_and_the_executor_option() -> None:
    with pytest.raises(ValueError, match="executor must be"):
        create_recode_agent(ScriptedChatModel(responses=[]), executor="inproces")
    with WorkerPool(max_workers=2, prestart=1) as pool:
        model = ScriptedChatModel(responses=[expansion("", "x = 6 * 7\nfinal_answer(str(x))")])
        assert create_recode_agent(model, executor=pool).invoke({"instruction": "x"})["answer"] == "42"
        assert pool.started >= 1
    model = ScriptedChatModel(responses=[expansion("", "x = 6 * 7\nfinal_answer(str(x))")])
    assert create_recode_agent(model, executor="inprocess").invoke({"instruction": "x"})["answer"] == "42"


def test_validation_caps_the_answer_and_is_linear() -> None:
    with pytest.raises(InvalidExpansion, match="limit is 64 KB"):
        validate("x = 1\n" * (MAX_CODE // 6 + 1), {"run"})
    code = "\n".join(f"x{i} = run('go to desk {i}')" for i in range(2000))
    started = time.perf_counter()
    assert len(validate(code, {"run"})) == 2000
    assert time.perf_counter() - started < 5  # was 17 s (quadratic source segments)


def test_the_host_decodes_only_plain_data_from_a_worker() -> None:
    from recode_graph.sandbox import wire
    from recode_graph.sandbox.plain import restore, to_checkpointable

    value = {"s": {1, 2}, "d": {1: "a", "$k": None}, "big": 10**40, "m": {"$re.Match": {"string": "x"}}, "f": 1.5,
             "nan": float("inf"), "t": {(1, 2): frozenset({3})}}
    ok, plain = to_checkpointable(value)
    assert ok and wire.loads(wire.dumps(plain)) == plain and restore(wire.loads(wire.dumps(plain))) == value
    for hostile in (b'"\\ud800"', b'{"\\udfff": 1}', b"[" * 100_000 + b"]" * 100_000, b"[" * 70 + b"]" * 70, b"\x80",
                    b"[123456789012345678901234567890]", b"[-9223372036854775809]", b"[NaN]", b'{"a": [1e999]}'):
        with pytest.raises(wire.WireError):
            wire.loads(hostile)
    assert wire.loads(b'["\\\\ud800", 9223372036854775807]') == ["\\ud800", 2**63 - 1]  # text, not a surrogate
    # tags are data: a malformed or unknown one stays as it is, never raises, never runs anything
    for odd in ({"$eval": "os.system(1)"}, {"$set": [[1], {}]}, {"$int": "9" * 5000}, {"$int": "x"},
                {"$dict": {"keys": [{}], "values": [1]}}, {"$dict": {"keys": [1]}}, {"$re.Match": {"spans": 5}},
                {"$float": "1.5"}, {"$re.Pattern": "(", "flags": 0.5}):
        assert restore(wire.loads(wire.dumps(odd))) == odd
    # a pattern is its text in the host (never compiled here: issue 32), even one that would not compile
    broken = restore(wire.loads(wire.dumps({"$re.Pattern": "(", "flags": 0})))
    assert broken == "(" and broken.flags == 0 and repr(broken) == "re.compile('(')"


def test_a_worker_that_died_while_idle_is_replaced() -> None:
    import signal

    with WorkerPool(max_workers=1, prestart=1) as pool:
        assert pool.run("x = 1", {}, {}, LIMITS, session="run").ok
        idle = pool._runs["run"]  # kept for the run's next statement
        signal.pidfd_send_signal(idle.pidfd, signal.SIGKILL)
        time.sleep(0.2)
        result = pool.run("y = x + 1", {"x": 1}, {}, LIMITS, session="run")
        assert result.ok and result.variables == {"x": 1, "y": 2}
        assert pool.started == 2


def test_the_hosts_quick_pass_over_a_reply_lets_nothing_through_the_full_check_refuses() -> None:
    import json
    import random

    from recode_graph.sandbox import wire

    for hostile in (b"[9223372036854775808]", b"[1e308, 2e308]", b"[17976931348623159e292]", b"[1E+400]",
                    b"[" * 66 + b"]" * 66, b'{"a":' * 65 + b"1" + b"}" * 65, b"[" + b"9" * 400 + b".0]"):
        with pytest.raises(wire.WireError):
            wire.loads(hostile)
    for fine in (b"[" * 65 + b"]" * 65, b'{"a":' * 64 + b"1" + b"}" * 64, b"[0." + b"0" * 400 + b"1e-999]",
                 b"[1e308, -1.5e-300, 922337203685477580]"):
        assert wire.loads(fine) is not None
    rng = random.Random(35)
    for _ in range(3000):  # numbers of every size: the quick pass passes only what the full check passes
        mantissa = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 24)))
        number = (rng.choice(["", "-"]) + mantissa + rng.choice(["", f".{rng.randint(0, 99)}"])
                  + rng.choice(["", f"e{rng.randint(-400, 400)}", f"E+{rng.randint(0, 40)}"]))
        data = json.dumps({"n": [1, {"x": "text 123"}]})[:-2].encode() + b", " + number.encode() + b"]}"
        try:
            value = json.loads(data)
            wire.check(value)
            full = True
        except (ValueError, wire.WireError):
            full = False
        try:
            wire.loads(data)
            quick = True
        except wire.WireError:
            quick = False
        assert quick == full, data


def test_validation_parses_once_and_keeps_its_statements_and_its_order_of_errors() -> None:
    from recode_graph.engine.code import InvalidExpansion, UndefinedNames, validate

    with pytest.raises(InvalidExpansion, match="Not allowed in this sandbox") as refused:
        validate("x = nowhere._hidden", {"run"})  # the policy's error first, then the undefined name's
    assert not isinstance(refused.value, UndefinedNames)
    with pytest.raises(InvalidExpansion, match="Not allowed in this sandbox"):
        validate("x = y._z\nx = plan_it(x)\nx = plan_it(x)", {"run"}, variables={"y"}, expanding=("plan_it", "x"))
    with pytest.raises(InvalidExpansion, match="'break' outside loop"):
        validate("x = 1\nbreak\ny = x._z", {"run"})  # the compiler's own check comes before the policy
    code = "t = a.b + c['k'] * 2\nu = f'{t!r}' % ()\nv = plan_it(t, n=u)\nfor i in range(2):\n    t += i"
    statements = validate(code, {"run", "range"}, variables={"a", "c"})  # the policy rewrote the tree after these
    assert [s.code for s in statements] == ["t = a.b + c['k'] * 2", "u = f'{t!r}' % ()", "v = plan_it(t, n=u)",
                                            "for i in range(2):\n    t += i"]
    assert [s.uses for s in statements] == [["a", "c"], ["t"], ["plan_it", "t", "u"], ["range", "i"]]  # as before
    assert (statements[2].call, statements[2].args, statements[2].targets) == ("plan_it", "t, n=u", ["v"])
    assert [s.call for s in statements] == ["", "", "plan_it", ""]
