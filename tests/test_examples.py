"""The README's runnable example works as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_tools_demo_runs_offline() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "tools_demo.py")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("success 1581 people per km2")
