"""Values kept in workers belong to one run; one run's leftovers never reach or burden another (issue 21)."""

from __future__ import annotations

from recode_graph import ScriptedChatModel, create_recode_agent, expansion
from recode_graph.sandbox import Limits
from recode_graph.sandbox.workers import WorkerPool

LIMITS = Limits(max_seconds=60, max_memory_mb=256)  # time: a wide margin for a loaded machine (load 13)


def test_two_agents_with_the_same_thread_id_get_different_unguessable_handles() -> None:
    from recode_graph.context import Settings
    from recode_graph.deps import AgentDeps

    first, second = (AgentDeps(model=None, tools={}, environment=None, examples=None, settings=Settings())
                     for _ in range(2))
    a, b = first.run_handle("thread-1", "ep1"), second.run_handle("thread-1", "ep1")
    assert a != b and a.endswith("/thread-1/ep1/") and b.endswith("/thread-1/ep1/")
    assert len(a.split("/")[0]) == 32 and first.run_handle("thread-1", "ep1") == a  # stable within an agent
    assert first.run_handle("thread-1", "ep2") != a  # and per episode


def test_another_run_can_neither_name_nor_reach_kept_values() -> None:
    with WorkerPool(max_workers=2, prestart=2) as pool:
        made = pool.run("it = iter([1, 2, 3])\nfirst = next(it)", {}, {}, LIMITS, session="run-a")
        assert made.ok and made.variables["first"] == 1
        other = pool.run("x = next(it)", {}, {}, LIMITS, session="run-b")
        assert not other.ok and "NameError" in other.error and "it" in other.error
        again = pool.run("second = next(it)", made.variables, {}, LIMITS, session="run-a")
        assert again.ok and again.variables["second"] == 2, again.error


def test_a_worker_keeping_another_runs_values_is_replaced_not_shared() -> None:
    with WorkerPool(max_workers=1, prestart=1) as pool:
        assert pool.run("it = iter([1, 2, 3])", {}, {}, LIMITS, session="run-a").ok
        killed = pool.killed
        other = pool.run("print(len(dir()))\nx = next(it)", {}, {}, LIMITS, session="run-b")
        assert not other.ok and "NameError" in other.error
        assert pool.killed == killed + 1  # run-a's worker was replaced rather than handed to run-b


def test_leftovers_of_one_run_do_not_count_against_the_next() -> None:
    with WorkerPool(max_workers=1, prestart=1) as pool:
        kept = pool.run("it = iter(['x' * 10**6 for _ in range(150)])", {}, {}, LIMITS, session="run-a")
        assert kept.ok, kept.error
        assert pool.killed == 1  # 150 MB left in the worker: it is replaced after the statement
        innocent = pool.run("n = sum(len(p) for p in ['y' * 9_000_000 for _ in range(20)])", {}, {}, LIMITS,
                            session="run-b")
        assert innocent.ok and innocent.variables["n"] == 180_000_000, innocent.error


def test_same_thread_id_in_two_agents_in_one_process() -> None:
    pool = WorkerPool(max_workers=1, prestart=1)
    try:
        config = {"configurable": {"thread_id": "shared"}}
        maker = ScriptedChatModel(responses=[expansion("", "it = iter([7, 8])\nfinal_answer(str(next(it)))")])
        out = create_recode_agent(maker, limits=LIMITS, executor=pool).invoke({"instruction": "x"}, config)
        assert out["answer"] == "7"
        thief = ScriptedChatModel(responses=[expansion("", "final_answer(str(next(it)))"),
                                             expansion("", "final_answer('no access')")])
        out = create_recode_agent(thief, limits=LIMITS, executor=pool).invoke({"instruction": "x"}, config)
        assert out["answer"] == "no access"
    finally:
        pool.close()
