"""Packaging facts a user relies on: the Python versions, the serve extra, the image context, the floor check."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_python_versions_of_the_library_and_the_serve_extra_agree() -> None:
    assert PROJECT["project"]["requires-python"] == ">=3.11"
    (aegra,) = [d for d in PROJECT["project"]["optional-dependencies"]["serve"] if d.startswith("aegra-api")]
    assert aegra.endswith("; python_version >= '3.12'")  # on 3.11 the extra installs; `recode serve` explains


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the message is for Python 3.11")
def test_recode_serve_on_python_3_11_is_one_line() -> None:
    done = subprocess.run([sys.executable, "-m", "recode_graph.cli", "serve", "--database", "postgresql://x/y"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "recode: error: `recode serve` runs on Aegra, which needs Python 3.12+: make install-serve (a .venv312 "
        "with the serve extra), then .venv312/bin/recode serve ..."]


def test_the_image_context_leaves_out_venvs_git_and_runs() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", ".venv312", ".venv-floors", ".ui", ".git", "runs", "**/__pycache__", ".pytest_cache"} <= ignored


def test_every_dependency_has_a_floor_that_ci_installs_exactly() -> None:
    deps = PROJECT["project"]["dependencies"]
    assert all(">=" in d for d in deps)
    floors = {d.split(">=")[0].split("[")[0]: d.split(">=")[1] for d in deps}
    assert floors["langgraph"] == "1.2.13" and floors["langchain"] == "1.3.0" and floors["langchain-core"] == "1.4.7"
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make test") < ci.index("bash scripts/check_floors.sh")
