"""Nothing a model returns raises out of ``invoke``: lone surrogates, NUL bytes, empty and huge answers,
mojibake, invalid escapes and content-block lists are re-asked with a hint (or, repeated, end the episode
with a failure status), and nothing unencodable reaches the checkpoint (SQLite and Postgres)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import own_database
from langgraph.checkpoint.sqlite import SqliteSaver

from recode_graph import ScriptedChatModel, create_recode_agent, expansion

GOOD = expansion("ok", "final_answer('done')")
# answers that cannot be run: re-asked with a hint
REASKED = {
    "surrogate in code": expansion("t", "final_answer('\ud800')"),
    "NUL in code": expansion("t", "x = 1\x00\nfinal_answer('done')"),
    "empty": "",
    "1 MB of code": expansion("t", "x = 1\n" * 180_000),
    "1 MB of prose": "a" * 1_000_000,
    "invalid escape": expansion("t", "final_answer('\\N{no such name}')"),
    "blocks without text": [{"type": "image_url", "image_url": {"url": "data:,"}},
                            {"type": "reasoning", "reasoning": "\ud800"}],
}
HINTS = {"surrogate in code": "lone surrogate", "NUL in code": "null bytes", "empty": "no <execute> block",
         "1 MB of code": "the limit is 64 KB", "1 MB of prose": "no <execute> block",
         "invalid escape": "syntax error", "blocks without text": "no <execute> block"}
# answers whose code runs: the odd text around it is kept, escaped
USED = {
    "surrogate in think": (expansion("a\ud800b", "final_answer('done')"), "a\\ud800b"),
    "NUL in think": (expansion("a\x00b", "final_answer('done')"), "a\\x00b"),
    "1 MB think": (expansion("t" * 1_000_000, "final_answer('done')"), "t" * 100),
    "mojibake": (expansion("Ã©tÃ©", "final_answer('done')"), "Ã©tÃ©"),
    "content blocks": ([{"type": "text", "text": "<think>two\n\"blocks\"</think>\n<execute>\n"},
                        {"type": "text", "text": "final_answer('done')\n</execute>"}], 'two\n"blocks"'),
}


def sqlite_saver(tmp_path: Path) -> Any:
    return SqliteSaver(sqlite3.connect(str(tmp_path / "answers.sqlite"), check_same_thread=False))


def run(saver: Any, responses: list[Any], thread: str) -> tuple[dict[str, Any], ScriptedChatModel]:
    model = ScriptedChatModel(responses=responses)
    out = create_recode_agent(model, checkpointer=saver).invoke({"instruction": "x"},
                                                                  {"configurable": {"thread_id": thread}})
    return out, model


@pytest.mark.parametrize("case", list(REASKED))
def test_a_bad_answer_is_reasked_with_a_hint(case: str, tmp_path: Path) -> None:
    out, model = run(sqlite_saver(tmp_path), [REASKED[case], GOOD], "t")
    assert out["status"] == "success" and out["answer"] == "done"
    assert out["tree"]["0"]["rewrites"] == 1 and len(model.calls) == 2
    assert HINTS[case] in model.calls[1]  # the re-ask says what was wrong


@pytest.mark.parametrize("case", list(REASKED))
def test_the_same_bad_answer_twice_ends_with_a_failure_status(case: str, tmp_path: Path) -> None:
    out, _ = run(sqlite_saver(tmp_path), [REASKED[case]] * 3, "t")
    assert out["status"] == "failed" and "the same invalid answer twice" in out["reason"]


@pytest.mark.parametrize("case", list(USED))
def test_odd_text_around_valid_code_is_kept_escaped(case: str, tmp_path: Path) -> None:
    answer, thought = USED[case]
    saver = sqlite_saver(tmp_path)
    out, _ = run(saver, [answer], "t")
    assert out["status"] == "success" and out["answer"] == "done"
    assert out["tree"]["0"]["thought"].startswith(thought) and len(out["tree"]["0"]["thought"]) < 17_000
    stored = saver.get_tuple({"configurable": {"thread_id": "t"}})  # read back from the database
    assert stored is not None and stored.checkpoint["channel_values"]["status"] == "success"


@pytest.fixture
def pg_saver() -> Iterator[Any]:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    with own_database("recode_answers") as url, psycopg.Connection.connect(
            url, autocommit=True, prepare_threshold=0, row_factory=dict_row) as conn:
        saver = PostgresSaver(conn)  # type: ignore[arg-type]
        saver.setup()
        yield saver


def test_postgres_holds_surrogates_and_nul_from_answers_and_code(pg_saver: Any) -> None:
    # jsonb refuses \u0000 and lone surrogates: the thought and the final answer are stored escaped
    out, _ = run(pg_saver, [REASKED["surrogate in code"], expansion("a\x00\ud800", "final_answer('x\\x00y\\ud800')")],
                 "pg")
    assert out["status"] == "success" and out["answer"] == "x\\x00y\\ud800"
    assert out["tree"]["0"]["thought"] == "a\\x00\\ud800"
    assert pg_saver.get_tuple({"configurable": {"thread_id": "pg"}}).checkpoint["channel_values"]["answer"] == \
        "x\\x00y\\ud800"
