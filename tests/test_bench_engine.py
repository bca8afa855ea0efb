"""``python -m recode_graph.bench.engine`` (issue 35): this engine next to a plain LangGraph graph in one run."""

from __future__ import annotations

from typing import Any

import pytest

from recode_graph.bench.engine import main


def test_the_engine_benchmark_prints_both_graphs_and_their_ratio() -> None:
    lines: list[str] = []
    main(["--nodes", "10", "--repeat", "1", "--episodes", "2", "--latency", "0.05"], out=lines.append)
    text = "\n".join(lines)
    per_node, concurrent = text.split("\n\n")
    rows = {line.split("|")[1].strip(): line for line in per_node.splitlines() if line.startswith("| ")}
    assert {"recode", "langgraph", "ratio"} <= set(rows), text
    cpu = [float(rows[kind].split("|")[2]) for kind in ("recode", "langgraph")]
    assert all(c > 0 for c in cpu), text
    speedups = [line.split("|")[4] for line in concurrent.splitlines() if line.startswith(("| recode", "| langgraph"))]
    assert "2 concurrent episodes" in concurrent and len(speedups) == 2 and all(s.strip().endswith("x")
                                                                                   for s in speedups), text


def test_the_round_trip_benchmark_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    from recode_graph.bench import roundtrip

    roundtrip.main(["--statements", "10", "--rows", "1000"])
    out = capsys.readouterr().out
    assert "| `x = bump(x)` |" in out and "big state / small state, wall:" in out


def test_the_task_path_benchmark_runs_each_node_shape_to_the_end() -> None:
    from recode_graph.bench import taskpath

    lines: list[str] = []
    taskpath.main(["--steps", "12", "--repeat", "1"], out=lines.append)
    rows = [line for line in "\n".join(lines).splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split("|")[1].strip() for r in rows[1:]] == list(taskpath.SHAPES)
    assert all(float(r.split("|")[2]) > 0 for r in rows[1:])


def test_the_stored_bytes_by_part_add_up_to_what_the_saver_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    from recode_graph.bench import engine

    savers: list[Any] = []
    real = engine.InMemorySaver

    def kept() -> Any:
        savers.append(real())
        return savers[-1]

    monkeypatch.setattr(engine, "InMemorySaver", kept)
    count, parts = engine.stored_parts(10)
    assert count > 5 and {"checkpoint: channel_versions", "write: tree", "write: messages", "metadata"} <= set(parts)
    assert abs(sum(parts.values()) - engine.memory_bytes(savers[0]) / count) < 1e-6
    lines: list[str] = []
    monkeypatch.setattr(engine, "InMemorySaver", real)
    engine.main(["--stored", "--nodes", "10"], out=lines.append)
    assert lines[-1].startswith("| total |")
