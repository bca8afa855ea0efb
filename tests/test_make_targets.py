"""`make footprint` names each directory the project fills and its size; `make clean-all` removes exactly the venvs,
the built UI and the model cache (docs/troubleshooting.md). Real make, on folders of the test's own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT


def make(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    if shutil.which("make") is None:
        pytest.skip("no make")
    for folder, size in ((".venv", 3 << 20), (".venv312", 1 << 20), (".ui", 1 << 20), ("cache", 2 << 20),
                         ("home", 1 << 20)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "blob").write_bytes(b"x" * size)
    return tmp_path


def test_footprint_names_each_folder_and_clean_all_removes_the_installs(installed: Path) -> None:
    where = [f"RECODE_CACHE_DIR={installed / 'cache'}", f"RECODE_DATA_HOME={installed / 'home'}"]
    shown = make("footprint", *where, cwd=installed)
    assert shown.returncode == 0, shown.stderr
    sizes = {line.split("\t")[1]: line.split("\t")[0] for line in shown.stdout.splitlines()}
    assert set(sizes) == {".venv", ".venv312", ".ui/", str(installed / "cache"), str(installed / "home")}
    assert sizes[".venv"].startswith("3") and sizes[str(installed / "cache")].startswith("2"), shown.stdout
    done = make("clean-all", *where, cwd=installed)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in installed.iterdir()) == ["home"]  # threads and benchmark data are kept
    again = make("footprint", *where, cwd=installed)
    assert again.stdout.count("(absent)") == 4


def test_install_prints_a_line_while_pip_is_quiet(tmp_path: Path) -> None:
    """`make install-dev` piped (CI, `make run-offline | cat`): a line every PROGRESS_SECONDS while pip works. A
    stand-in pip that is quiet for 4 s, so nothing is installed."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "pip").write_text("#!/bin/bash\necho 'Collecting recode-graph'\nsleep 4\necho 'Successfully "
                                      "installed recode-graph'\n")
    (venv / "bin" / "python").write_text("#!/bin/bash\nexit 0\n")
    for tool in ("pip", "python"):
        (venv / "bin" / tool).chmod(0o755)
    done = make("install-dev", f"VENV={venv}", "RECODE_PROGRESS_SECONDS=1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    beats = [line for line in lines if line.startswith("   … still installing · ")]
    assert beats and lines.index(beats[0]) > lines.index("   Collecting recode-graph"), done.stdout
    assert lines.index("   Successfully installed recode-graph") > lines.index(beats[0])
