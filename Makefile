# The two commands of the README do all set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast bench install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[server,dask,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	MPLBACKEND=Agg $(PY) -m oqtant.cli demo

test: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -n 2 -q

# Local quick loop: everything but the slow physics and integration tests.
test-fast: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -n 2 -q -m "not slow and not server"

bench: $(STAMP)
	MPLBACKEND=Agg $(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info demo_output
