#!/usr/bin/env bash
# The wheel as a pip user gets it: build it, check it holds one import package (recode_graph) with its data,
# install it without extras into a fresh venv and run the README example (scripted model) and `recode --help`;
# then add the [envs] extra and run an ALFWorld episode on the bundled sample with no data directory.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3.11}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1 LANGSMITH_TRACING=false
unset RECODE_DATA_DIR RECODE_DATA_HOME RECODE_MODEL OPENAI_API_KEY

echo "== build"
"$PY" -m pip wheel -q --no-deps -w "$WORK/dist" . 2>&1 | grep -v "^WARNING: Location" || true
WHEEL="$(ls "$WORK"/dist/recode_graph-*.whl)"
"$PY" - "$WHEEL" <<'PYEOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
top = sorted({n.split("/", 1)[0] for n in names})
extra = [t for t in top if t != "recode_graph" and not t.endswith(".dist-info")]
assert not extra, f"wheel has top-level names besides recode_graph: {extra}"
tl = [n for n in names if n.endswith(".dist-info/top_level.txt")]
if tl:
    assert zipfile.ZipFile(sys.argv[1]).read(tl[0]).decode().split() == ["recode_graph"]
for need in ("recode_graph/nodes/execute.py", "recode_graph/tools/alfworld.py", "recode_graph/tools/prompts/",
             "recode_graph/tools/sample_data/NOTICE.md", "recode_graph/tools/sample_data/sciworld/test_indices.json",
             "recode_graph/models/fixtures/alfworld_generic.json", "recode_graph/bench/prices.json"):
    assert any(n.startswith(need) for n in names), f"wheel lacks {need}"
games = [n for n in names if n.endswith("game.tw-pddl")]
assert len(games) == 12, games
print(f"wheel ok: top-level {top}, {len(names)} files, {len(games)} sample games")
PYEOF

echo "== install without extras"
"$PY" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q "$WHEEL" 2>&1 | grep -v "^WARNING: Location" || true
mkdir -p "$WORK/app" "$WORK/home"
cd "$WORK/app"   # no checkout, no ../shared beside it
export HOME="$WORK/home" XDG_DATA_HOME="$WORK/home/.local/share"
"$WORK/venv/bin/recode" --help > /dev/null
cat > readme_example.py <<'PYEOF'
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from recode_graph import ScriptedChatModel, create_recode_agent, expansion

@tool
def search(query: str) -> str:
    """Look a fact up."""
    return {"population of Oslo": "717710", "area of Oslo in km2": "454"}.get(query, "unknown")

@tool
def divide(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b

model = ScriptedChatModel(by_call={
    "solve": expansion("Look up, divide, answer.", "people = float(search('population of Oslo'))\n"
                       "area = float(search('area of Oslo in km2'))\nfinal_answer(str(round(divide(people, area))))")})
agent = create_recode_agent(model, tools=[search, divide], checkpointer=InMemorySaver())
out = agent.invoke({"instruction": "Population density of Oslo?"}, {"configurable": {"thread_id": "t1"}})
print(out["status"], out["answer"], out["usage"])
assert (out["status"], out["answer"]) == ("success", "1581"), out
PYEOF
"$VPY" readme_example.py
if "$WORK/venv/bin/recode" run --env alfworld --model scripted:alfworld_generic > noenv.txt 2>&1; then
  echo "expected an error without the [envs] extra"; cat noenv.txt; exit 1
fi
grep -q 'needs the .alfworld. package: in the checkout run pip install -e ".\[envs\]"' noenv.txt || { cat noenv.txt; exit 1; }

echo "== install with [envs]"
"$VPY" -m pip install -q "$WHEEL[envs]" 2>&1 | grep -v "^WARNING: Location" || true
set +e
"$WORK/venv/bin/recode" run --env alfworld --split unseen --model scripted:alfworld_generic --thread wheel-check \
  --task pick_and_place_simple-Mug-None-Desk-308/trial_T20190908_125200_737896 > run.txt 2>&1
code=$?
set -e
tail -3 run.txt
[ "$code" -eq 0 ] || { echo "recode run failed with exit code $code"; cat run.txt; exit 1; }
grep -q "using the bundled sample" run.txt && grep -q "result: success" run.txt
"$WORK/venv/bin/recode" data status
echo "wheel check passed"
