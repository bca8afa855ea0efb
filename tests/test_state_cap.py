"""The total state of an episode is capped (issue 21): variables plus the calls the trajectory keeps. Going over
is a statement error the model repairs, and the host's memory stays flat under hoarding (real workers)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tools import tool

from recode_graph import Limits, ScriptedChatModel, create_recode_agent, expansion
from recode_graph.bench.hoard import run_isolated
from recode_graph.engine.statesize import StateMeter, size_of
from recode_graph.sandbox import ExecResult

MB = 2**20
SMALL = Limits(max_seconds=60, max_state_bytes=1 * MB)  # time: a wide margin for a loaded machine
FULL = "the episode's state would exceed 1.0 MB (Limits.max_state_bytes)"


def episode(responses: list[str], tools: list[Any] = (), limits: Limits = SMALL) -> tuple[dict[str, Any], Any]:
    model = ScriptedChatModel(responses=responses)
    return create_recode_agent(model, list(tools), limits=limits).invoke({"instruction": "x"}), model


def test_variables_over_the_cap_fail_the_statement_and_the_model_repairs_it() -> None:
    out, model = episode([expansion("", "x = 'a' * 600_000\ny = 'b' * 600_000\nz = 1"),
                          expansion("", "del x\ny = 'b' * 600_000\nfinal_answer(len(y))")])
    assert out["status"] == "success" and out["answer"] == "600000", out.get("reason")
    assert FULL in model.calls[1] and "(largest: x 0.6 MB, y 0.6 MB" in model.calls[1], model.calls[1][-800:]
    assert "x" not in out["variables"] and len(out["variables"]["y"]) == 600_000


def test_a_failed_statement_keeps_the_variables_it_had() -> None:
    out, model = episode([expansion("", "x = 'a' * 600_000\nx = x + 'b' * 600_000\nz = 1"),
                          expansion("", "final_answer(len(x))")])
    assert out["answer"] == "600000" and FULL in model.calls[1]


def test_a_call_whose_arguments_would_overflow_does_not_run() -> None:
    ran: list[int] = []

    @tool
    def keep(text: str) -> int:
        """Keep text."""
        ran.append(len(text))
        return len(text)

    out, model = episode([expansion("", "for i in range(10):\n    keep('b' * 300_000)"),
                          expansion("", "final_answer('done')")], [keep])
    assert out["answer"] == "done" and len(ran) == 3, ran
    assert FULL in model.calls[1] and "calling keep() would keep its arguments" in model.calls[1]
    assert [s["name"] for s in out["trajectory"]] == ["keep"] * 3 + ["final_answer"]


def test_an_output_that_would_overflow_is_not_kept() -> None:
    @tool
    def fetch(n: int) -> str:
        """A big text."""
        return "c" * n

    out, model = episode([expansion("", "page = fetch(2_000_000)"), expansion("", "final_answer('short')")],
                         [fetch])
    assert out["answer"] == "short" and "the output of fetch() would keep" in model.calls[1]
    assert out["trajectory"][0]["output"].startswith("[output not kept")
    assert "page" not in out["variables"]


def test_a_statement_that_shrinks_an_oversized_state_passes() -> None:
    meter = StateMeter.start(1 * MB, {"x": "a" * 2 * MB, "y": "b" * 10}, [])
    shrunk = meter.settle(ExecResult(ok=True, variables={"x": "a" * (MB + MB // 2), "y": "b" * 10}))
    assert shrunk.ok
    grown = meter.settle(ExecResult(ok=True, variables={"x": "a" * 2 * MB, "y": "b" * 20}))
    assert not grown.ok and grown.variables == meter.before


def test_sizes_are_the_json_size_of_the_checkpoint_form() -> None:
    import json

    for value in ["abc", "é" * 1000, list(range(1000)), ["ab"] * 100, {"k": [1, {"x": "y"}]}, {"$int": "1" * 30}]:
        assert size_of(value) >= len(json.dumps(value, ensure_ascii=False).encode()) * 0.5
        assert size_of(value) <= len(json.dumps(value, ensure_ascii=False).encode()) * 2 + 24  # containers count 8
    assert Limits().max_state_bytes == 64 * MB
    with pytest.raises(ValueError, match="max_state_bytes"):
        Limits(max_state_bytes=0)


@pytest.mark.parametrize("pattern", ["variables", "tool-arguments"])
def test_hoarding_keeps_the_host_flat(pattern: str) -> None:
    """48 statements keeping 8 MB each / 40 calls with a 9 MB argument: 380 MB of hoard; uncapped the host
    peaked at ~1.5 GB (InMemorySaver). Capped at 64 MB: a statement error, the model repairs, the host stays
    within a few times the cap (generous: the machine is shared)."""
    r = run_isolated(pattern, "memory")
    assert r["status"] == "success" and r["answer"] == "repaired", r
    assert "the episode's state would exceed 64.0 MB" in r["error"], r
    assert r["rss_peak_mb"] - r["rss_start_mb"] < 640, r
