# The two commands: `make run` (the product on its embedded defaults) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml uv.lock | sha1sum | cut -c1-12)

.PHONY: run test lint typecheck pytest setup system-deps worker clean faults bench lock upgrade-check

# Everything installs from uv.lock (exact versions, hashes checked; stops if the lock no longer
# matches pyproject.toml: run make lock); uv itself is pinned by hash in requirements-uv.txt.
# Reinstalls when pyproject.toml or uv.lock change.
setup: $(STAMP)

$(UV): requirements-uv.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes --no-deps -r requirements-uv.txt
	@touch $@

$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV) sync -q --locked --extra test
	@rm -f $(VENV)/.installed-* && touch $@

# Re-resolve uv.lock after a change to pyproject.toml (other pins stay);
# `make lock UPGRADE=1` moves every package to the newest release its range allows.
lock: $(UV)
	$(UV) lock $(if $(UPGRADE),--upgrade)

# Would the newest temporalio still replay our histories and keep the job order? (scratch venv)
upgrade-check: $(UV)
	tests/upgrade-check.sh

# Debian packages the tests need: a real PostgreSQL, a real IMAP server (Dovecot), docker-compose
# to check the production file, and chromium for the browser tests (Playwright drives it; it
# downloads no browser). The tests start their own Dovecot (localstack/dovecot.py): the package's
# system service is stopped and disabled where an init system started it.
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	test -x /usr/sbin/dovecot || missing="$$missing dovecot-imapd"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	test -x /usr/bin/chromium || missing="$$missing chromium fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  case "$$missing" in *dovecot*) \
	    if [ -d /run/systemd/system ]; then $$SUDO systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1; \
	    else $$SUDO service dovecot stop >/dev/null 2>&1; fi; true;; \
	  esac; \
	fi

run: setup
	$(PY) -m localstack.devstack

worker: setup
	$(PY) worker.py

lint: setup
	$(PY) -m ruff check .

typecheck: setup
	$(PY) -m mypy .

# Two workers (this machine's cores), a module per worker: module-scoped stores and servers
# are built once. The time the tests took is printed (the target is at most 4 minutes), with
# the CPU time of every process they ran (user + system; servers and browsers included): on
# two cores, wall time cannot go below half of it.
PYTEST := $(PY) -m localstack.postgres -- $(PY) -m pytest -n auto --dist loadfile
define timed
	@start=$$(date +%s); $(1); status=$$?; cpu=$$(mktemp); times > $$cpu; read -r user sys < <(tail -1 $$cpu); rm -f $$cpu; \
	echo "the tests took $$(( $$(date +%s) - start )) s (CPU: $$user user + $$sys system)"; exit $$status
endef

pytest: setup system-deps
	$(call timed,$(PYTEST) $(PYTEST_ARGS))

test: setup system-deps
	$(PY) -m ruff check .
	$(PY) -m mypy .
	$(call timed,$(PYTEST) $(PYTEST_ARGS))

# Fault injection: 200 complaints per scenario through real processes while parts fail.
faults: setup system-deps
	$(PY) -m faults $(FAULTS_ARGS)

# Benchmark against the engine's own floor (prints figures; not a test).
bench: setup system-deps
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
