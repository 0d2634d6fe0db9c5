# The two commands of the README do all set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast test-postgres bench install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[server,dask,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	MPLBACKEND=Agg $(PY) -m oqtant.cli demo

# The suite starts its own PostgreSQL clusters and drives Debian's Chromium:
# both are installed here when missing (apt-get; nothing is downloaded otherwise).
test: $(STAMP)
	bash scripts/ensure_postgres.sh
	bash scripts/ensure_chromium.sh
	MPLBACKEND=Agg $(PY) -m pytest -n 2 -q

# The scale-out tests alone: PostgreSQL and Dask clusters started and removed by the tests.
test-postgres: $(STAMP)
	bash scripts/ensure_postgres.sh
	MPLBACKEND=Agg $(PY) -m pytest -n 2 -q tests/scaleout

# Local quick loop: everything but the slow physics and integration tests.
test-fast: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -n 2 -q -m "not slow and not server"

bench: $(STAMP)
	MPLBACKEND=Agg $(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info demo_output
