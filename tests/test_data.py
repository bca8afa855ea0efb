"""Benchmark data without anything outside the repository: the bundled sample, `recode data` (install from a
local copy, link, status, the downloader's failure offline), lookup order and its errors, and one import
package (a user's own `tools` / `nodes` next to the agent)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from recode_graph.tools import load_environment
from recode_graph.tools.base import EnvError
from recode_graph.tools.datasets import SAMPLE_ROOT, count_tasks, locate

from recode_graph.bench.sample import stratified_sample

ROOT = Path(__file__).resolve().parent.parent
TYPES = {"put", "clean", "heat", "cool", "examine", "puttwo"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user data home: nothing installed, no RECODE_DATA_DIR."""
    monkeypatch.setenv("RECODE_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RECODE_DATA_DIR", raising=False)
    return tmp_path / "home"


def recode(*args: str, home: Path, cwd: Path = ROOT, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RECODE_DATA_DIR", "OPENAI_API_KEY", "RECODE_MODEL")}
    env.update(RECODE_DATA_HOME=str(home), LANGSMITH_TRACING="false", **extra)
    return subprocess.run([sys.executable, "-m", "recode_graph.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


def sample_copy(tmp_path: Path) -> Path:
    """A 'local copy' of the benchmarks folder, made from the bundled sample (real game files)."""
    copy = tmp_path / "benchmarks"
    shutil.copytree(SAMPLE_ROOT, copy)
    return copy


def test_bundled_sample_has_every_task_type_and_the_licence(home: Path) -> None:
    located = locate("alfworld")
    assert located.sample and located.path.is_relative_to(SAMPLE_ROOT)
    env = load_environment("alfworld", split="unseen")
    try:
        for split in ("seen", "unseen"):
            tasks = env.list_tasks(split)
            picked = stratified_sample(tasks, 6, 0, "alfworld")
            assert {t["task_type"] for t in picked} == TYPES
        assert env.data_note and "bundled sample" in env.data_note and "recode data alfworld" in env.data_note
        reset = env.reset(0)
        assert reset.instruction and "You are in the middle of a room" in reset.observation
    finally:
        env.close()
    assert "MIT License" in (SAMPLE_ROOT / "NOTICE.md").read_text()
    sci = locate("sciworld")
    assert sci.sample and count_tasks("sciworld", sci.path, "seen") == 194
    assert count_tasks("sciworld", sci.path, "unseen") == 211


def test_lookup_order_and_errors_name_the_fix(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EnvError, match=r"data_dir=.*recode data alfworld"):
        locate("alfworld", tmp_path / "nowhere")
    monkeypatch.setenv("RECODE_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(EnvError, match=r"RECODE_DATA_DIR=.*recode data alfworld"):
        load_environment("alfworld")
    with pytest.raises(EnvError, match=r"recode data sciworld"):
        locate("sciworld")
    monkeypatch.delenv("RECODE_DATA_DIR")
    copy = sample_copy(tmp_path)
    assert locate("alfworld", copy).source == "option"
    with pytest.raises(EnvError, match="unknown data set"):
        locate("webshop")


def test_recode_data_installs_links_and_reports(home: Path, tmp_path: Path) -> None:
    copy = sample_copy(tmp_path)
    done = recode("data", "status", home=home)
    assert done.returncode == 0, done.stderr
    assert "alfworld: sample (partial: seen 6, unseen 6)" in done.stdout
    assert "sciworld: sample (complete: seen 194, unseen 211)" in done.stdout
    done = recode("data", "alfworld", "--from", str(copy), home=home)
    assert done.returncode == 0, done.stderr
    dest = home / "data" / "alfworld" / "json_2.1.1"
    assert "alfworld: installed at" in done.stdout and "(seen 6, unseen 6)" in done.stdout
    assert dest.is_dir() and not dest.is_symlink() and count_tasks("alfworld", dest, "unseen") == 6
    assert "already installed" in recode("data", "alfworld", "--from", str(copy), home=home).stdout
    done = recode("data", "status", home=home)
    assert f"alfworld: installed (partial: seen 6, unseen 6) {dest}" in done.stdout
    # --link replaces the copy only with --force; the link points at the source
    (copy / "alfworld" / "json_2.1.1" / "valid_seen" / "extra" / "trial_1").mkdir(parents=True)
    src_game = next((copy / "alfworld" / "json_2.1.1" / "valid_seen").glob("*/*/game.tw-pddl"))
    shutil.copy(src_game, copy / "alfworld" / "json_2.1.1" / "valid_seen" / "extra" / "trial_1")
    refused = recode("data", "alfworld", "--from", str(copy), "--link", home=home)
    assert refused.returncode == 2 and "--force" in refused.stderr and len(refused.stderr.splitlines()) == 1
    done = recode("data", "alfworld", "--from", str(copy), "--link", "--force", home=home)
    assert done.returncode == 0 and dest.is_symlink() and count_tasks("alfworld", dest, "seen") == 7
    assert not list(dest.parent.glob(".*")), "no staging folders left behind"
    # sciworld: the packaged split files are the default source
    done = recode("data", "sciworld", home=home)
    assert done.returncode == 0 and "(seen 194, unseen 211)" in done.stdout
    assert (home / "data" / "sciworld" / "max_steps.json").is_file()


@pytest.mark.parametrize("args, want", [
    (["data", "alfworld", "--from", "/nonexistent"], "not a directory"),
    (["data", "alfworld", "--from", "/tmp/../etc"], "holds no alfworld data"),
    (["data", "sciworld", "--link"], "--link needs --from"),
    (["data", "status", "--force"], "takes no"),
    (["data", "webshop"], "invalid choice"),
])
def test_recode_data_bad_input_is_one_line(args: list[str], want: str, home: Path) -> None:
    done = recode(*args, home=home)
    assert done.returncode == 2 and want in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 or "invalid choice" in want
    assert not (home / "data").exists()


def test_download_failure_offline_names_the_local_copy_option(home: Path) -> None:
    pytest.importorskip("alfworld")
    # a closed proxy port guarantees the real downloader fails fast, with or without internet
    done = recode("data", "alfworld", home=home, HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "ALFWorld download failed" in done.stderr and "--from DIR" in done.stderr
    assert not (home / "data" / "alfworld").exists()


def test_run_on_the_sample_says_so(home: Path, tmp_path: Path) -> None:
    pytest.importorskip("alfworld")
    task = "pick_and_place_simple-Mug-None-Desk-308/trial_T20190908_125200_737896"
    done = recode("run", "--env", "alfworld", "--split", "unseen", "--task", task, "--model",
                  "scripted:alfworld_generic", "--thread", "sample-1", home=home, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "note: alfworld: using the bundled sample (6 of 140 seen, 6 of 134 unseen games)" in done.stdout
    assert f"task: {task}" in done.stdout and "result: success" in done.stdout


def test_user_packages_named_tools_and_nodes_do_not_clash(tmp_path: Path) -> None:
    """A user's project with its own tools/, nodes/ (and, separately, tools.py) runs the agent."""
    app = tmp_path / "app"
    for pkg in ("tools", "nodes"):
        (app / pkg).mkdir(parents=True)
        (app / pkg / "__init__.py").write_text(f"MINE = '{pkg} of the user'\n")
    script = textwrap.dedent("""
        import tools, nodes
        from recode_graph import create_recode_agent
        from recode_graph.models.scripted import load_fixture
        import recode_graph.nodes.execute, recode_graph.tools.base
        agent = create_recode_agent(load_fixture("hello"))
        out = agent.invoke({"instruction": "Ada"})
        print(out["status"], out["answer"], tools.MINE, nodes.MINE)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=app, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "success Hello, Ada! tools of the user nodes of the user"
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "tools.py").write_text("MINE = 'tools.py of the user'\n")
    done = subprocess.run([sys.executable, "-c", script.replace(", nodes.MINE", "").replace(", nodes", "")],
                          cwd=flat, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("success Hello, Ada! tools.py of the user")
