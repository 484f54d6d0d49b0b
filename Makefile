# The two quickstart commands: `make demo` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean bench bench-xgboost

demo: $(STAMP)  ## Train the sample model, serve it natively, send sample payloads, stop.
	$(BIN)/python model_artifacts/demo.py

test: $(STAMP)  ## The whole test suite (what CI runs).
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(STAMP)  ## Benchmark against AWS's stacks and MLServer (bench/results/latest.md); BENCH_ARGS=--quick
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-xgboost: $(STAMP)  ## The XGBoost handler against sagemaker-inference on MMS (bench/results/xgboost.md)
	$(BIN)/python -m bench.xgb_suite $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) model_artifacts/build .pytest_cache .ruff_cache .hypothesis
