# The two commands a fresh Debian machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ARGS   ?=
PYTEST_ARGS ?= -n 2

.PHONY: run test browser postgres lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# reinstall when the dependencies change
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed

## make run: start the demo depot (web app on http://127.0.0.1:8050, simulated chargers on SQLite)
run: $(VENV)/.installed
	$(PY) app.py $(ARGS)

## make test: the whole suite, browser tests included
test: $(VENV)/.installed-test browser postgres
	$(PY) -m pytest $(PYTEST_ARGS)

## Debian's Chromium and its driver for the browser tests, installed when missing
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" -eq 0 ]; then \
		echo "installing Debian chromium + chromium-driver for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
		echo "The browser tests need Debian's chromium and chromium-driver:"; \
		echo "    sudo apt-get install chromium chromium-driver"; \
		exit 1; \
	fi

## Debian's PostgreSQL for the store and OCPP tests on PostgreSQL, installed when missing. The suite starts
## its own throwaway server (tests/pg.py: initdb in a temporary directory); the package's own cluster is
## not created (createcluster.d), so nothing is left running.
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then exit 0; fi; \
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" -eq 0 ]; then \
		echo "installing Debian postgresql for the PostgreSQL tests"; \
		mkdir -p /etc/postgresql-common/createcluster.d && \
		echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/depot-tests.conf && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else \
		echo "The PostgreSQL tests need Debian's postgresql (the suite starts its own server):"; \
		echo "    sudo apt-get install postgresql"; \
		exit 1; \
	fi

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed
	$(PY) -m depot.bench planner
	$(PY) -m depot.bench ocpp --chargers 500

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .hypothesis
