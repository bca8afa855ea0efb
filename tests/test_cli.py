"""The `recode` CLI end to end, in subprocesses: real ALFWorld, scripted models, SQLite (and Postgres when
it is up). run → show (text, mermaid, json) → approvals answered on stdin → SIGKILL while waiting at a
prompt → resume to the same result; every error path is one line on stderr, exit != 0, nothing written."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import types
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import PG_URL, require_postgres

from recode_graph import cli

ROOT = Path(__file__).resolve().parent.parent
TASK = "pick_and_place_simple-Book-None-SideTable-329/trial_T20190908_050633_745514"
ALFWORLD = ["--env", "alfworld", "--split", "seen", "--task", TASK, "--model", "scripted:alfworld_generic"]
DEAD_PG = "postgresql://postgres@127.0.0.1:1/test"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recode-home")


def child_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "RECODE_MODEL")}
    env.update(RECODE_DATA_HOME=str(home), LANGSMITH_TRACING="false", PYTHONUNBUFFERED="1", **extra)
    return env


def recode(home: Path, *args: str, stdin: str = "", **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recode_graph.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=child_env(home, **extra))


def state(home: Path, db: Path, thread: str) -> dict[str, Any]:
    done = recode(home, "show", thread, "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def actions(values: dict[str, Any]) -> list[str]:
    return [s["args"]["action"] for s in values["trajectory"] if s["name"] == "run"]


@pytest.fixture(scope="module")
def reference(home: Path) -> tuple[Path, dict[str, Any], str]:
    """One ALFWorld episode without approvals: (db, final state, run output)."""
    pytest.importorskip("alfworld")
    db = home / "ref.sqlite"
    done = recode(home, "run", *ALFWORLD, "--db", str(db), "--thread", "ref")
    assert done.returncode == 0, done.stderr
    return db, state(home, db, "ref"), done.stdout


def test_run_streams_the_episode_and_show_draws_it(home: Path, reference: tuple[Path, dict[str, Any], str]) -> None:
    db, values, output = reference
    assert values["status"] == "success" and values["score"] == 1.0 and len(actions(values)) >= 4
    assert "thread: ref" in output and "result: success" in output and "model calls" in output
    assert f"> 8 run(action='{actions(values)[0]}')" in output  # actions and observations streamed
    assert "+ 4 (parent 0) obj = find_and_take(target, locations)  [placeholder]" in output
    shown = recode(home, "show", "ref", "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    for node in values["tree"].values():
        assert node["code"].splitlines()[0] in shown.stdout
    assert "trajectory:" in shown.stdout and actions(values)[-1] in shown.stdout
    mermaid = recode(home, "show", "ref", "--db", str(db), "--mermaid")
    assert mermaid.returncode == 0 and mermaid.stdout.startswith("flowchart TD\n")
    assert "n0 --> n1" in mermaid.stdout and "n4 --> n7" in mermaid.stdout


def test_expansion_approvals_answered_on_stdin(home: Path) -> None:
    # reject the first plan with a message, approve it when proposed again, edit the greeting's code
    answers = "r\nplease think again\na\ne\ngreeting = 'Hi, ' + instruction + '!'\n.\n"
    done = recode(home, "run", "--instruction", "Ann", "--model", "scripted:hello", "--approve", "expansions",
                  "--thread", "greet", stdin=answers)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("? approval needed: code for node 0") == 2
    assert "answer: Hi, Ann!" in done.stdout and "· 3 model calls ·" in done.stdout
    assert (home / "threads.sqlite").is_file()  # the default database lives under RECODE_DATA_HOME


def test_unanswered_action_waits_and_resume_takes_an_edit(home: Path) -> None:
    db = home / "calc.sqlite"
    args = ["--instruction", "what is 2 + 3 * 4", "--model", "scripted:calc_demo", "--db", str(db)]
    waiting = recode(home, "run", *args, "--approve", "actions", "--thread", "calc")
    assert waiting.returncode == cli.EXIT_WAITING
    assert waiting.stderr.strip().splitlines() == ["recode: error: no answer for the pending approval (end of "
                                                   "input); the thread waits: `recode resume calc`"]
    assert "? approval needed: calculator(expression='2 + 3 * 4')" in waiting.stdout
    assert "waiting: execute (an approval is pending)" in recode(home, "show", "calc", "--db", str(db)).stdout
    done = recode(home, "resume", "calc", "--db", str(db), stdin='e\n{"expression": "6 * 7"}\na\n')
    assert done.returncode == 0, done.stderr
    assert "answer: what is 2 + 3 * 4 -> 42 (7 words)" in done.stdout
    assert "> 3 calculator(expression='6 * 7')\n< 3 42\n" in done.stdout


def test_approve_takes_tool_lists_and_interrupt_on_and_offers_only_the_allowed_decisions(home: Path) -> None:
    db = home / "calc2.sqlite"
    args = ["--instruction", "what is 2 + 3 * 4", "--model", "scripted:calc_demo", "--db", str(db)]
    config = '{"calculator": {"allowed_decisions": ["approve", "respond"]}, "word_count": false}'
    # "e" is not offered: asked again; "s" answers for the tool (it does not run)
    done = recode(home, "run", *args, "--approve", config, "--thread", "calc2", stdin="e\ns\n99\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("? approve or respond? [a/s]") == 2 and "answer a (approve), s (respond)" in done.stdout
    assert "answer: what is 2 + 3 * 4 -> 99 (7 words)" in done.stdout
    assert "> 3 calculator" not in done.stdout  # never ran
    listed = recode(home, "run", *args, "--approve", "expansions,word_count", "--thread", "calc3",
                    stdin="a\na\n")
    assert listed.returncode == 0, listed.stderr
    assert "? approval needed: code for node 0" in listed.stdout and "? approval needed: word_count(" in listed.stdout
    assert "? approval needed: calculator" not in listed.stdout
    assert "approve, edit, reject or respond? [a/e/r/s]" in listed.stdout


def read_until(proc: subprocess.Popen[str], marker: str, count: int) -> list[str]:
    """stdout lines until ``marker`` has been seen ``count`` times."""
    assert proc.stdout is not None
    lines: list[str] = []
    while sum(marker in line for line in lines) < count:
        line = proc.stdout.readline()
        assert line, f"the run ended before {count}x {marker!r}: {''.join(lines)[-2000:]}"
        lines.append(line)
    return lines


def test_killed_while_waiting_for_approval_then_resumed(home: Path,
                                                        reference: tuple[Path, dict[str, Any], str]) -> None:
    db = home / "kill.sqlite"
    cmd = [sys.executable, "-m", "recode_graph.cli", "run", *ALFWORLD, "--approve", "expansions", "--db", str(db),
           "--thread", "crash"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=child_env(home))
    assert proc.stdin is not None
    try:
        prompt = "? approve, edit or reject"
        for _ in (1, 2):  # approve the plan and find_and_take; die at the third question
            read_until(proc, prompt, 1)
            proc.stdin.write("a\n")
            proc.stdin.flush()
        lines = read_until(proc, prompt, 1)
        assert any("code for node 5: treat(obj, instruction, locations)" in line for line in lines)
        assert any(line.startswith("> 8 run(") for line in lines)  # find_and_take already acted
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = recode(home, "resume", "crash", "--db", str(db), stdin="a\n" * 4)
    assert done.returncode == 0, done.stderr
    assert "code for node 5: treat" in done.stdout and "result: success" in done.stdout
    _, expected, _ = reference
    resumed = state(home, db, "crash")
    for key in ("status", "score", "answer", "usage"):
        assert resumed[key] == expected[key], key
    assert actions(resumed) == actions(expected)  # no action repeated or lost; no model call paid twice


def test_a_run_says_the_goal_what_it_waits_for_and_what_to_do_next(home: Path, tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    done = recode(home, "run", *ALFWORLD, "--thread", "first", "--db", str(db))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines.index("goal: put some book on sidetable.") < lines.index("thread: first")
    asked = lines.index("… model writing code for node 0: solve(instruction, observation)")
    answered = next(line for line in lines[asked:] if line.startswith("* 0 expanded"))
    assert re.fullmatch(r"\* 0 expanded \(placeholder\): .* \(\d+\.\d s\)", answered), answered
    assert lines[-4:-2] == ["next:", f"  recode show first --db {db}    the expansion tree and every action"]
    assert recode(home, "show", "first", "--db", str(db)).returncode == 0  # the hint works as written


def test_png_without_graphviz_names_the_text_form(home: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bin"  # a PATH without graphviz's dot
    bare.mkdir()
    drawn = recode(home, "graph", "--png", str(tmp_path / "g.png"), PATH=str(bare))
    assert drawn.returncode == 2 and drawn.stdout == ""
    assert drawn.stderr.strip() == ("recode: error: graphviz 'dot' is not installed (e.g. apt-get install graphviz); "
                                    "for a text diagram instead run `recode graph`")
    assert "graph TD;" in recode(home, "graph").stdout


def test_graph_mermaid(home: Path) -> None:
    drawn = recode(home, "graph")
    assert drawn.returncode == 0 and "graph TD;" in drawn.stdout and "execute -.-> expand" in drawn.stdout


SUBPROCESS_ERRORS: list[tuple[list[str], dict[str, str], str]] = [
    (["run", "--env", "alfworld", "--split", "seen", "--task", "no/such/game"], {}, "unknown task id"),
    (["run", "--instruction", "hi"], {"RECODE_MODEL": "bogus:model"}, "no usable model"),
    (["run", "--instruction", "hi", "--model", "scripted:hello", "--postgres", DEAD_PG], {},
     "cannot connect to Postgres"),
    (["resume", "nope"], {}, "no threads database"),
]


def check_error(args: list[str], code: int, out: str, err: str, want: str) -> None:
    lines = err.strip().splitlines()
    assert code not in (0, None) and len(lines) == 1, (args, err)
    assert lines[0].startswith("recode: error: ") and want in lines[0], (args, lines)
    assert out == "", (args, out)


def test_errors_in_subprocesses_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    empty_home = tmp_path / "home"
    db = tmp_path / "never.sqlite"
    cases = [(args + ([] if "--postgres" in args else ["--db", str(db)]), extra, want)
             for args, extra, want in SUBPROCESS_ERRORS]
    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        results = list(pool.map(lambda c: recode(empty_home, *c[0], **c[1]), cases))
    for (args, _, want), done in zip(cases, results, strict=True):
        check_error(args, done.returncode, done.stdout, done.stderr, want)
    assert not db.exists() and not empty_home.exists()


def test_postgres_run_show_resume(home: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    require_postgres(PG_URL)
    thread = f"cli-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    done = recode(home, "run", "--instruction", "Bo", "--model", "scripted:hello", "--postgres", PG_URL,
                  "--thread", thread)
    assert done.returncode == 0 and "answer: Hello, Bo!" in done.stdout, done.stderr
    monkeypatch.setenv("RECODE_DATA_HOME", str(home))
    assert cli.main(["show", thread, "--postgres", PG_URL]) == 0
    assert "greeting = 'Hello, ' + instruction + '!'" in capsys.readouterr().out
    assert cli.main(["resume", thread, "--postgres", PG_URL]) == 0
    assert "the episode had already finished" in capsys.readouterr().out
    assert cli.main(["resume", "no-such-thread", "--postgres", PG_URL]) == cli.EXIT_USAGE
    assert capsys.readouterr().err == "recode: error: unknown thread 'no-such-thread'\n"


# ------------------------------------------------------------------------------------------ in-process


def test_calculator_is_safe() -> None:
    assert cli.calculator("2 + 3 * 4") == 14 and cli.calculator("sqrt(16) + 2 ** 3") == 12.0
    assert cli.calculator("-(7 // 2) % 5") == 2
    for bad in ("__import__('os').system('true')", "open('x')", "(1).__class__", "9 ** 9 ** 9", "x", "1 +"):
        with pytest.raises(ValueError):
            cli.calculator(bad)
    assert cli.word_count("a b  c\nd") == 4 and len(cli.today()) == 10


def test_forwarded_subcommands(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[list[str]] = []
    fake = types.ModuleType("fake_sft")
    fake.main = lambda argv: seen.append(argv) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_sft", fake)
    monkeypatch.setitem(cli.FORWARDED, "export-sft", "fake_sft")
    assert cli.main(["export-sft", "--out", "x.jsonl", "--help"]) == 7 and seen == [["--out", "x.jsonl", "--help"]]
    monkeypatch.setitem(cli.FORWARDED, "bench", "recode_graph.no_such_module")
    assert cli.main(["bench", "--env", "twx"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["recode: error: `recode bench` is not available: module recode_graph.no_such_module is not "
                   "installed"]


IN_PROCESS_ERRORS: list[tuple[list[str], dict[str, str], str]] = [
    (["run", "--env", "nope"], {}, "unknown environment 'nope'"),
    (["run", "--env", "alfworld", "--split", "nope"], {}, "unknown split 'nope'"),
    (["run", "--env", "alfworld", "--split", "seen", "--task", "9999"], {}, "task index 9999"),
    (["run", "--env", "alfworld", "--model", "scripted:hello"], {"RECODE_DATA_DIR": "/nonexistent"}, "not found"),
    (["run", "--instruction", "hi", "--model", "scripted:nope"], {}, "unknown scripted fixture 'nope'"),
    (["show", "nope"], {}, "no threads database"),
    (["run"], {}, "needs --env ENV"),
    (["run", "--instruction", "hi", "--approve", "maybe"], {}, "--approve: approve: unknown tool or mode 'maybe'"),
    (["run", "--instruction", "hi", "--approve", "expansion"], {}, "unknown tool or mode 'expansion'"),
    (["run", "--instruction", "hi", "--approve", '{"calculator": {"allowed_decisions": []}}'], {},
     "needs a non-empty 'allowed_decisions'"),
    (["run", "--env", "alfworld", "--grounding", "on"], {}, "invalid choice: 'on'"),
    (["run", "--instruction", "hi", "--task", "3"], {}, "need --env"),
    (["run", "--instruction", "hi", "--max-depth", "0"], {}, "--max-depth must be at least 1"),
    (["show", "x", "--mermaid", "--json"], {}, "not allowed with argument"),
]


@pytest.mark.parametrize("args,extra,want", IN_PROCESS_ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list)
                         else None)
def test_errors_in_process(args: list[str], extra: dict[str, str], want: str, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RECODE_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RECODE_MODEL", raising=False)
    for key, value in extra.items():
        monkeypatch.setenv(key, value)
    db = tmp_path / "never.sqlite"
    code = cli.main([*args, "--db", str(db)])
    out = capsys.readouterr()
    check_error(args, code, out.out, out.err, want)
    assert not db.exists() and not (tmp_path / "home").exists()


def test_errors_on_an_existing_database(reference: tuple[Path, dict[str, Any], str],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    db, _, _ = reference
    for args, want in ((["resume", "nope"], "unknown thread 'nope'"), (["show", "nope"], "unknown thread 'nope'"),
                       (["run", *ALFWORLD, "--thread", "ref"], "thread 'ref' already exists")):
        code = cli.main([*args, "--db", str(db)])
        out = capsys.readouterr()
        check_error(args, code, out.out, out.err, want)


def test_png_needs_graphviz(reference: tuple[Path, dict[str, Any], str], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    db, _, _ = reference
    for args in (["graph", "--png", str(tmp_path / "g.png")],
                 ["show", "ref", "--db", str(db), "--png", str(tmp_path / "t.png")]):
        code = cli.main(args)
        out = capsys.readouterr()
        if shutil.which("dot"):
            assert code == 0 and Path(args[args.index("--png") + 1]).stat().st_size > 0
        else:
            check_error(args, code, out.out, out.err, "graphviz 'dot' is not installed")


def test_live_tree_from_events_matches_the_final_tree() -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    from recode_graph import create_recode_agent
    from recode_graph.engine.render import LiveTree, mermaid, tree_dot, tree_lines

    graph = create_recode_agent("scripted:hello", checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "live"}}
    live = LiveTree()
    for event in graph.stream({"instruction": "Eve"}, config, stream_mode="custom"):
        live.apply(event)
    tree = graph.get_state(config).values["tree"]
    assert {k: (n["code"], n["children"]) for k, n in live.nodes.items()} == {
        k: (n["code"], n["children"]) for k, n in tree.items()}
    assert tree_lines(tree) == [
        "✓ 0 solve(instruction, observation)", "    # Write a greeting, then answer with it.",
        "  ✓ 1 greeting = make_greeting(instruction)  [placeholder]", "      # Prefix the name.",
        "    ✓ 3 greeting = 'Hello, ' + instruction + '!'", "  ✓ 2 final_answer(greeting)"]
    assert "n1 -> n3;" in tree_dot(tree) and "n1 --> n3" in mermaid(tree)


def test_a_big_int_episode_finishes(home: Path) -> None:
    import math
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    from recode_graph import create_recode_agent

    db = home / "big.sqlite"
    done = recode(home, "run", "--instruction", "30!", "--model", "scripted:big_numbers", "--db", str(db),
                  "--thread", "big")
    assert done.returncode == 0, done.stderr
    assert f"answer: 33 digits: {math.factorial(30)}" in done.stdout and "result: success" in done.stdout
    assert state(home, db, "big")["status"] == "success"
    saver = SqliteSaver(sqlite3.connect(str(db), check_same_thread=False))
    variables = create_recode_agent(None, checkpointer=saver).get_state(
        {"configurable": {"thread_id": "big"}}).values["variables"]
    assert variables["n"] == {"$int": str(math.factorial(30))}
    assert variables["factors"] == {"$dict": {"keys": [2, 3, "top"], "values": [26, 14, {"$int": str(2**100)}]}}
