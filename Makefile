# The two commands: `make run` (the product on its embedded defaults) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test lint typecheck pytest setup system-deps worker clean faults bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

# Debian packages the tests need: a real PostgreSQL, docker-compose to check the production
# file, and chromium for the browser tests (Playwright drives it; it downloads no browser).
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	test -x /usr/bin/chromium || missing="$$missing chromium fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

run: setup
	$(PY) -m localstack.devstack

worker: setup
	$(PY) worker.py

lint: setup
	$(PY) -m ruff check .

typecheck: setup
	$(PY) -m mypy .

pytest: setup system-deps
	scripts/with-postgres.sh $(PY) -m pytest -n auto --dist loadfile $(PYTEST_ARGS)

test: setup system-deps
	$(PY) -m ruff check .
	$(PY) -m mypy .
	scripts/with-postgres.sh $(PY) -m pytest -n auto --dist loadfile $(PYTEST_ARGS)

# Fault injection: 200 complaints per scenario through real processes while parts fail.
faults: setup system-deps
	$(PY) -m faults $(FAULTS_ARGS)

# Benchmark against the engine's own floor (prints figures; not a test).
bench: setup system-deps
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
