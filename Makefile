SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Serving on Aegra (docs/serving.md) lives in a Python 3.12 environment of its own; tests/conftest.py finds it here
PY312 ?= $(or $(shell ls -d $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12 2>/dev/null | tail -1),$(shell command -v python3.12))
SERVE_VENV ?= .venv312
PROGRESS_SECONDS ?= $(or $(RECODE_PROGRESS_SECONDS),30)

.PHONY: install-ui install-dev install-local install-serve test run-offline lint footprint clean-all

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Everything the tests need: the project, the real environments, the dev tools.
install-dev: $(BIN)/python
	@echo "== installing the project, the environments and the local model into $(VENV) (first time: 6 min on a quiet 2-core machine, about 13 with other jobs running; ALFWorld compiles)"
	$(BIN)/pip install -q --upgrade pip
	@# one line per package and build step (the whole log: $(VENV)/install.log)
	@# the venv first on PATH: a build script that calls plain `python` (fast-downward-textworld's) finds the venv's
	@# and a line every $(PROGRESS_SECONDS) s (RECODE_PROGRESS_SECONDS), so a piped or CI log shows a quiet compile is alive
	@started=$$(date +%s); ( while sleep $(PROGRESS_SECONDS); do echo "   … still installing · $$(( $$(date +%s) - started )) s"; \
	  done ) & beat=$$!; trap 'kill $$beat 2>/dev/null' EXIT; \
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pip install --progress-bar off -e ".[dev,envs,local]" 2>&1 | tee $(VENV)/install.log \
	  | awk '/^(Collecting|Building wheel|Successfully)/ {print "   " $$0; fflush()} \
	         /^Building wheels.*fast-downward/ {print "   (this is where ALFWorld'"'"'s planner compiles: a few quiet minutes)"; fflush()}' \
	  || (echo "pip failed; the end of $(VENV)/install.log:"; tail -30 $(VENV)/install.log; exit 1)
	@$(BIN)/python -c "import recode_graph, alfworld, scienceworld, xllamacpp" && echo "== installed; in a new shell: source $(VENV)/bin/activate"

# The serve extra (Aegra) and pytest in $(SERVE_VENV) (about 1 min): `recode serve`, tests/test_server_aegra*.py.
install-serve:
	@test -n "$(PY312)" || (echo "install-serve needs python3.12 (set PY312=/path/to/python3.12)"; exit 1)
	test -x $(SERVE_VENV)/bin/python || $(PY312) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/pip install -q --upgrade pip
	$(SERVE_VENV)/bin/pip install -q --progress-bar off -e ".[serve]" "pytest>=8"
	@$(SERVE_VENV)/bin/python -c "import aegra_api, recode_graph.serving.settings" && echo "== serving environment ready: $(SERVE_VENV)"

# Chromium (Debian's package; installed when run as root) and Agent Chat UI built from the npm registry
# (scripts/build_chat_ui.sh, about 1 min): tests/test_chat_ui.py and docs/serving.md's chat in a browser.
install-ui:
	@command -v chromium >/dev/null || { if [ "$$(id -u)" = 0 ]; then \
	  echo "== installing Chromium (apt-get install chromium)"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install-ui needs Chromium: sudo apt-get install -y chromium"; exit 1; fi; }
	bash scripts/build_chat_ui.sh

# The README test command: the whole suite (no -x: every failure is reported), a short line with the cause of each
# failure or error (-rfE), and the skipped tests grouped by the command that enables them (tests/skips.py).
# Test files run in TEST_WORKERS processes (pytest-xdist; a file's tests stay in one process, so a file's servers
# and fixtures are started once): most of the suite's time is waiting on servers, workers and JVMs, not CPU.
# TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
test:
	$(BIN)/python -m pytest -q -rfE -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

lint:
	$(BIN)/ruff check .

# Fresh machine, no API key: install with the local model, then one ALFWorld game that the embedded 1.5B model
# solves (it is in the bundled sample and in the full unseen split). Exit code: the episode's (0 = solved).
DEMO_GAME ?= pick_and_place_simple-Mug-None-Desk-308/trial_T20190908_125200_737896
run-offline: install-dev
	$(BIN)/recode run --env alfworld --split unseen --task $(DEMO_GAME) --model local

# What the install targets and the local model put on disk (docs/troubleshooting.md): the venvs (the weights packages
# live in $(VENV)), the built chat UI, the assembled GGUF files, the threads and benchmark data.
MODEL_CACHE ?= $(or $(RECODE_CACHE_DIR),$(HOME)/.cache/recode-graph/models)
DATA_HOME ?= $(or $(RECODE_DATA_HOME),$(HOME)/.local/share/recode-graph)
footprint:
	@for d in $(VENV) $(SERVE_VENV) .ui/ $(MODEL_CACHE) $(DATA_HOME); do \
	  if [ -e "$$d" ]; then du -sh "$$d" 2>/dev/null | tail -1; else echo "-	$$d (absent)"; fi; done

# Remove what `make install-dev/install-serve/install-ui` and the first local-model run made: $(VENV), $(SERVE_VENV),
# .ui and the model cache. Threads and benchmark data ($(DATA_HOME)) are kept: rm -rf them yourself.
clean-all:
	rm -rf $(VENV) $(SERVE_VENV) .ui "$(MODEL_CACHE)"
