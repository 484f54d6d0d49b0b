# The two quickstart commands: `make demo` and `make test`. Everything else supports them.
#
# One virtualenv, two levels: `make demo` installs the runtime alone (what the demo runs), `make test`
# adds the dev extras (test tools, moto, awscli, matplotlib, ...). Each level has its own stamp, so
# `make test` after `make demo` upgrades the same .venv, and a change to pyproject.toml redoes both.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint venv docs clean bench bench-xgboost

demo: $(RUNTIME_STAMP)  ## Train the sample model, serve it natively, send sample payloads, stop.
	$(BIN)/python model_artifacts/demo.py

test: $(DEV_STAMP)  ## The whole test suite (what CI runs).
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(DEV_STAMP)  ## Benchmark against AWS's stacks and MLServer (bench/results/latest.md); BENCH_ARGS=--quick
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-xgboost: $(DEV_STAMP)  ## The XGBoost handler against sagemaker-inference on MMS (bench/results/xgboost.md)
	$(BIN)/python -m bench.xgb_suite $(BENCH_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

docs: $(DEV_STAMP)  ## Regenerate docs/commands.md from the command line's parsers.
	$(BIN)/python -m docs.generate

venv: $(DEV_STAMP)  ## The development virtualenv (runtime and dev extras).

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The dev extras include the runtime, so this level satisfies the demo's stamp too.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(RUNTIME_STAMP)

clean:
	rm -rf $(VENV) model_artifacts/build .pytest_cache .ruff_cache .hypothesis
