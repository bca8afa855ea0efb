#!/usr/bin/env bash
# The dependency floors of pyproject.toml hold: install the project with every `name>=X` of [project]
# dependencies pinned to exactly X (a pip --constraint file made from pyproject.toml), then run the library tests
# that need no environment, local model or server. No extras (envs, local, serve): only pytest is added.
# The venv (.venv-floors) is kept between runs and pip's cache is reused: with pyproject.toml unchanged the install
# is skipped and a run is the tests (20-50 s on 2 busy cores); a fresh venv took 7 min at load 12 (pip).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3.11}"
VENV="${FLOORS_VENV:-.venv-floors}"
TESTS=(tests/test_core.py tests/test_library.py tests/test_approval.py tests/test_compat.py tests/test_parity.py)
export PIP_DISABLE_PIP_VERSION_CHECK=1 LANGSMITH_TRACING=false
unset RECODE_MODEL OPENAI_API_KEY

test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
CONSTRAINTS="$VENV/floors.txt"
"$VENV/bin/python" - > "$CONSTRAINTS" <<'PYEOF'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
for dep in deps:
    m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^]]*\])?>=([0-9][0-9A-Za-z.]*)(,.*)?", dep.split(";")[0].strip())
    if not m:
        raise SystemExit(f"check_floors: cannot read a floor from {dep!r} (write it as name>=X)")
    print(f"{m.group(1)}=={m.group(3)}")
PYEOF
echo "== floors: $(tr '\n' ' ' < "$CONSTRAINTS")"
STAMP="$VENV/installed-from"   # pyproject.toml as last installed: unchanged, the install step is skipped
if ! cmp -s pyproject.toml "$STAMP"; then
  rm -f "$STAMP"
  "$VENV/bin/pip" install -q --progress-bar off --constraint "$CONSTRAINTS" -e . "pytest>=8" "pytest-timeout>=2.3" \
    > "$VENV/install.log" 2>&1 || { grep -v "^WARNING: Location" "$VENV/install.log" | tail -20; exit 1; }
  cp pyproject.toml "$STAMP"
fi
"$VENV/bin/pip" check >/dev/null || { "$VENV/bin/pip" check; exit 1; }
# every floor is what got installed (a silently higher version would prove nothing)
"$VENV/bin/python" - "$CONSTRAINTS" <<'PYEOF'
import sys
from importlib.metadata import version

from pip._vendor.packaging.version import Version
wrong = []
for line in open(sys.argv[1]):
    name, want = line.strip().split("==")
    got = version(name)
    if Version(got) != Version(want):
        wrong.append(f"{name} {got} (floor {want})")
if wrong:
    raise SystemExit("check_floors: not the floor versions: " + ", ".join(wrong))
PYEOF
"$VENV/bin/python" -c "import langgraph.version, langchain, langchain_core; print('== installed:', \
'langgraph', __import__('importlib.metadata').metadata.version('langgraph'), 'langchain', langchain.__version__, \
'langchain-core', langchain_core.__version__)"
"$VENV/bin/python" -m pytest -q -x -p no:cacheprovider "${TESTS[@]}"
