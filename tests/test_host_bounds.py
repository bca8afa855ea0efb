"""What the host keeps and spends per episode is bounded by the episode (issue 32), through the public API with
real workers: the history of superseded values, printed output, many small containers, regex patterns from the
sandbox. Each RSS figure comes from a fresh interpreter (``recode_graph.bench.hoard``); bounds have a wide margin
(the machine is shared) and sit far below what the same episodes cost before (in the comments)."""

from __future__ import annotations

import time

from langchain_core.tools import tool

from recode_graph import Limits, ScriptedChatModel, create_recode_agent, expansion
from recode_graph.bench.hoard import run_isolated, status_mb


def test_the_history_of_reassigned_values_counts_against_the_episode() -> None:
    """150 statements giving ``x`` a new 9 MB value: the checkpointer keeps every value (before: host 84 -> 1,451
    MB). The history cap (256 MB) ends it with a statement error; the model finishes."""
    r = run_isolated("reassign")
    assert r["status"] == "success" and r["answer"] == "repaired", r
    assert "the episode's history would exceed 256.0 MB (Limits.max_episode_bytes)" in r["error"], r
    assert r["stored_mb"] < 320, r
    assert r["rss_peak_mb"] - r["rss_start_mb"] < 640, r


def test_printed_output_is_stored_linearly() -> None:
    """3,000 statements printing 1.2 KB each: the tree no longer re-snapshots every node's output every 32 steps
    (before: stored bytes grew quadratically, 151 MB / 593 MB / 1.64 GB for 1,500 / 3,000 / 5,000 statements)."""
    r = run_isolated("prints")
    assert r["status"] == "success" and r["statements_done"] == 3001, r
    assert r["stored_mb"] < 40, r  # the output itself is 3.6 MB
    assert r["rss_peak_mb"] - r["rss_start_mb"] < 200, r


def test_a_statement_after_a_million_small_dicts_costs_the_host_little() -> None:
    """After ``x = [{} for _ in range(1_000_000)]``, each later statement cost seconds of host CPU (whole-state walks
    and pickling; 41 s for 10 here); now only what a statement changed is measured and sent (0.02 s for 10)."""
    r = run_isolated("dicts")
    assert r["status"] == "success" and r["statements_done"] == 14, r  # the root and 13 statements
    assert r["host_cpu_after"] is not None and r["host_cpu_after"] < 3, r  # 10 statements `y = i` (before: 41 s)
    assert r["rss_peak_mb"] - r["rss_start_mb"] < 500, r


def test_a_pattern_from_the_sandbox_reaches_tools_as_text_and_is_never_compiled_in_the_host() -> None:
    """``re.compile('((a{100}){100}){250}')`` handed to a tool 8 times cost the host +686 MB (it compiled it
    every time); the tool now gets the pattern's text."""
    got: list[tuple[str, str, int]] = []

    @tool
    def use(pattern: str) -> int:
        """Use a pattern."""
        got.append((type(pattern).__name__, str(pattern), getattr(pattern, "flags", -1)))
        return len(pattern)

    model = ScriptedChatModel(responses=[expansion("", "p = re.compile('((a{100}){100}){250}', re.I)\n"
                                                       "for i in range(8):\n    n = use(p)\nfinal_answer(str(n))")])
    agent = create_recode_agent(model, [use], limits=Limits(max_seconds=120))  # the worker compiles it (~1 s)
    create_recode_agent(ScriptedChatModel(responses=[expansion("", "final_answer('w')")] * 3)).invoke(
        {"instruction": "warm up"})
    before = status_mb("VmRSS")
    out = agent.invoke({"instruction": "x"})
    assert out["status"] == "success" and out["answer"] == str(len("((a{100}){100}){250}")), out.get("reason")
    assert len(got) == 8 and {text for _, text, _ in got} == {"((a{100}){100}){250}"}, got  # a str tool argument
    assert status_mb("VmRSS") - before < 150
    stored = out["trajectory"][0]["args"]["pattern"]  # the record keeps it as a pattern (regex's flags)
    assert stored["$re.Pattern"] == "((a{100}){100}){250}" and stored["flags"] & 2


def test_a_forged_pattern_from_a_worker_costs_the_host_nothing() -> None:
    from recode_graph.sandbox import wire
    from recode_graph.sandbox.plain import restore, to_checkpointable
    from recode_graph.sandbox.regexes import PatternText

    forged = wire.loads(b'[{"$re.Pattern":"((a{1000}){1000}){1000}","flags":0}]')
    started, before = time.perf_counter(), status_mb("VmRSS")
    value = restore(forged)[0]
    assert time.perf_counter() - started < 1 and status_mb("VmRSS") - before < 20
    assert isinstance(value, PatternText) and value == "((a{1000}){1000}){1000}"
    assert repr(value) == "re.compile('((a{1000}){1000}){1000}')" and to_checkpointable(value) == (True, forged[0])


def test_large_values_take_the_bulk_copy_only_when_they_are_their_own_checkpoint_form() -> None:
    """Values with more than 64 items are copied whole in C when ``own_form`` holds; anything with a tag inside
    (big int, ``$`` key, tuple, set, non-finite float, non-string key, too deep) takes the item-by-item path."""
    from recode_graph.sandbox.plain import own_form, restore, to_checkpointable

    plain = [{"a": i, "b": [str(i), None, 1.5, True], "c": {"d": "é"}} for i in range(100)]
    ok, form = to_checkpointable(plain)
    assert ok and own_form(plain) and form == plain and form is not plain and form[0]["b"] is not plain[0]["b"]
    assert restore(form) == plain and restore(form)[0] is not form[0]
    deep: list = []
    for _ in range(25):
        deep = [deep]
    for odd in ({"$k": 1}, {"x": 2**70}, {"x": (1, 2)}, {"x": {1, 2}}, {"x": float("nan")}, {1: "x"}, {"x": deep}):
        value = [dict(odd) for _ in range(100)]
        assert not own_form(value), odd
        ok, form = to_checkpointable(value)
        back = restore(form) if ok else None
        if "x" in odd and isinstance(odd["x"], tuple):
            assert back == [{"x": [1, 2]}] * 100  # tuples come back as lists
        elif "x" in odd and isinstance(odd["x"], float):
            assert all(v["x"] != v["x"] for v in back)  # nan
        elif "x" in odd and isinstance(odd["x"], list):
            assert not ok  # too deep
        else:
            assert back == value, odd
    assert to_checkpointable([{"x": deep}] * 100) == (False, None)
