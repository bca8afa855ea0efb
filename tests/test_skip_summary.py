"""The test command explains itself (issue 34): the Makefile's `test` runs the whole suite (no -x) with a line per
failure cause (-rfE), and skipped tests are summarized at the end, grouped, with the command enabling each group."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

SAMPLE = '''
import pytest
def test_serve(): pytest.skip("no serving environment at /x/bin/python (make install-serve)")
def test_serve_too(): pytest.skip("/x/bin/python cannot load Aegra: ['ModuleNotFoundError']")
def test_data(): pytest.skip("needs the full alfworld data: recode data alfworld (--from DIR)")
def test_ui(): pytest.skip("Chromium is not installed (make install-ui)")
def test_other(): pytest.skip("some reason of its own")
def test_fails(): assert 1 == 2, "the cause of the failure"
def test_passes(): pass
'''

HOOK = '''# the project's tests/conftest.py hook, in a folder of its own
import importlib.util, sys
sys.path.insert(0, {tests!r})
spec = importlib.util.spec_from_file_location("project_conftest", {tests!r} + "/conftest.py")
project = importlib.util.module_from_spec(spec)
spec.loader.exec_module(project)
pytest_terminal_summary = project.pytest_terminal_summary
'''


def test_make_test_reports_every_failure_and_groups_skips(tmp_path: Path) -> None:
    recipe = (ROOT / "Makefile").read_text().split("\ntest:\n", 1)[1].splitlines()[0].split()
    assert "-x" not in recipe and "-rfE" in recipe
    assert recipe[:3] == ["$(BIN)/python", "-m", "pytest"] and "$(TEST_WORKERS)" in recipe
    args = [a.replace("$(TEST_WORKERS)", "2") for a in recipe[3:]]  # the recipe's own flags, files in 2 processes
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "conftest.py").write_text(HOOK.format(tests=str(ROOT / "tests")))
    done = subprocess.run([sys.executable, "-m", "pytest", *args, str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 1 and "1 failed, 1 passed, 5 skipped" in out, out
    assert "FAILED test_sample.py::test_fails - AssertionError: the cause of the failure" in out
    summary = out.split("5 skipped: what they need", 1)[1].splitlines()
    assert "   2 need the serving environment (Aegra, Python 3.12); enable with: make install-serve  " \
           "(test_sample.py)" in summary
    assert "   1 need the full alfworld data; enable with: recode data alfworld --from DIR (see " \
           "docs/environments.md)  (test_sample.py)" in summary
    assert "   1 need Chromium and the built chat UI; enable with: make install-ui  (test_sample.py)" in summary
    assert "   1 skipped: some reason of its own  (test_sample.py)" in summary
