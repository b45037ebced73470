# The two commands of the README: `make demo` and `make test`. Each creates or refreshes .venv.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv demo test lint bench bench-smoke soak lab notebooks clean constraints

$(STAMP): pyproject.toml constraints.txt
	@command -v java >/dev/null || { echo "Java 17+ is required (e.g. apt-get install openjdk-17-jre-headless)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -c constraints.txt -e ".[local,azure,databricks,dev]"
	@touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(VENV)/bin/clickstream demo

lint: venv
	$(VENV)/bin/ruff check .

# Azurite (the Azure storage emulator) for the producer's Azure sink tests, pinned by package-lock.
node_modules/.bin/azurite: package.json package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 18+ with npm is required (the Azure sink tests run Azurite)"; exit 1; }
	npm ci --no-audit --no-fund
	@touch $@

test: venv lint node_modules/.bin/azurite
	$(PY) -m pytest

# Every benchmark case in one process, then the README's table from benchmarks/results.json.
bench: venv
	$(PY) -m benchmarks
	$(PY) -m benchmarks.readme_table

bench-smoke: venv
	$(PY) -m pytest tests/bench -q

soak: venv
	$(PY) -m pytest -m soak tests/reliability

lab: venv
	$(PY) -m pip install -q -c constraints.txt -e ".[local,azure,databricks,dev,lab]"
	$(PY) -m ipykernel install --sys-prefix --name lakeflow-clickstream --display-name "Lakeflow Clickstream"
	$(VENV)/bin/jupyter lab notebooks/ $(LAB_ARGS)

# Jupyter refuses root unless told; containers and CI images often run as root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

# Re-record the notebooks' committed outputs after a change to the pipeline or the notebooks.
notebooks: venv
	$(PY) tests/notebooks/record.py $(NB)

clean:
	rm -rf $(VENV) .lakehouse

# Re-pin after changing dependencies in pyproject.toml.
constraints: venv
	{ echo "# Reproducible pins for the local install: pip install -c constraints.txt -e '.[local,azure,databricks,dev]'"; \
	  echo "# Regenerate after changing pyproject.toml: make constraints"; \
	  $(PY) -m pip freeze --exclude-editable | grep -v '^lakeflow-clickstream'; } > constraints.txt
