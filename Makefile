# The README's two commands: `make demo` and `make test`. Each sets everything up first (`bootstrap`),
# on a machine that has nothing but python3 and pip.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# uv if it is on PATH, else the copy `bootstrap` installs for this user, run through python3 so that
# PATH does not matter (pip puts the `uv` script in ~/.local/bin, which is often not on PATH).
UV := $(shell command -v uv >/dev/null 2>&1 && echo uv || echo python3 -m uv)
# Two workers, a test file each at a time (a module's Airflow starts once): the suite waits on jobs and servers
# more than it computes (12 min with it on 2 cores, where one worker would take about 17).
PYTEST_ARGS ?= -n 2 --dist loadfile --durations=15

.PHONY: bootstrap browser servers demo demo-events demo-ha test lint typecheck unit compat bench bench-env fault-matrix ha-matrix exit-paths

# Install uv if missing (a user install; the second try is for PEP 668 "externally managed" system Pythons,
# which refuse even --user installs without it), then the locked environment with the `local` extra.
# Every later command runs with --no-sync: this is the one place the environment changes.
# --compile-bytecode: what pip does by default and uv does not. Without it, and with PYTHONDONTWRITEBYTECODE
# set (as on our CI machine), every Airflow task process compiled botocore from source again: about half a
# task run's CPU (docs/benchmarks.md, "Through a real Airflow"). Up-to-date files are skipped (~0.3 s); this
# package's own files (an editable install) are compiled by compileall, which also skips up-to-date ones.
bootstrap:
	@if ! command -v uv >/dev/null 2>&1 && ! python3 -m uv --version >/dev/null 2>&1; then \
		echo "uv not found: installing it for this user (python3 -m pip install --user uv)"; \
		python3 -m pip install --user --quiet uv 2>/dev/null \
			|| python3 -m pip install --user --quiet --break-system-packages uv; \
	fi
	@$(UV) sync --extra local --locked --quiet --compile-bytecode
	@$(UV) run --no-sync python -m compileall -q airflow_batch_plus

demo: bootstrap
	$(UV) run --no-sync airflow-batch-plus demo

# The demo with triggerers that wait on Batch's job state change events (an SQS queue each) instead of polling.
demo-events: bootstrap
	$(UV) run --no-sync airflow-batch-plus demo --job-events

# The demo's "ha" profile: Postgres, Redis, the CeleryExecutor with two workers and two triggerers (.state/demo-ha/).
demo-ha: bootstrap servers
	$(UV) run --no-sync airflow-batch-plus demo --profile ha

lint: bootstrap
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .

typecheck: bootstrap
	$(UV) run --no-sync mypy

# Debian's chromium for the browser tests (tests/e2e drive it with Playwright), installed once: as root,
# or through sudo. Playwright's own browser downloads are not used.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "chromium not found: installing Debian's chromium for the browser tests (apt-get)"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
		else sudo apt-get update -q && sudo apt-get install -y -q chromium; fi; \
	fi

# Debian's postgresql and redis-server for the demo's "ha" profile and its tests, installed once: as root, or
# through sudo. The demo runs its own servers under its state directory; the packages' services are not used.
servers:
	@missing=""; \
	if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then missing="$$missing postgresql"; fi; \
	if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then missing="$$missing redis-server"; fi; \
	if [ -n "$$missing" ]; then \
		echo "not found:$$missing: installing Debian's$$missing for the demo's ha profile (apt-get)"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q $$missing; \
		else sudo apt-get update -q && sudo apt-get install -y -q $$missing; fi; \
	fi

unit: bootstrap browser servers
	$(UV) run --no-sync pytest $(PYTEST_ARGS)

test: lint typecheck unit

# The supported versions (README, "Supported versions"): the built wheel installed with plain pip into a fresh
# venv per combination, Python 3.11 with every floor pyproject.toml claims and Python 3.12 with the newest
# Airflow 3 on PyPI, then tests/unit and tests/integration from a copy of tests/ (scripts/compat.py; .compat/).
# Needs python3.11 and python3.12 (on PATH, pyenv's, or COMPAT_PYTHON_3_11 / COMPAT_PYTHON_3_12). Not in CI.
# `make compat COMPAT_ARGS="--only newest"` runs one combination.
COMPAT_ARGS ?=
compat: bootstrap servers
	$(UV) run --no-sync python scripts/compat.py --uv "$(UV)" $(COMPAT_ARGS)

# Benchmarks (not part of `make test`): ours beside the amazon provider in one run. The amazon provider's
# deferrable trigger needs its [aiobotocore] extra, which pins another botocore than ours, so it gets an
# environment of its own under .bench/, with the same Airflow and amazon provider versions as our lock.
AMAZON_ENV := .bench/amazon
bench-env: bootstrap
	@if [ ! -x $(AMAZON_ENV)/bin/python ]; then $(UV) venv --quiet --python .venv/bin/python $(AMAZON_ENV); fi
	@requirements="$$($(UV) run --no-sync python benchmarks/amazon_requirements.py)"; \
		echo "amazon provider environment ($(AMAZON_ENV)): $$requirements"; \
		$(UV) pip install --quiet --python $(AMAZON_ENV)/bin/python $$requirements
	@# Bytecode as in bootstrap; uv pip's --compile-bytecode would skip what an earlier run installed.
	@$(AMAZON_ENV)/bin/python -c "import compileall, sysconfig; compileall.compile_dir(sysconfig.get_paths()['purelib'], quiet=2, workers=0)"

# Every benchmark, then docs/benchmarks.md's tables and plots from the results (about 30 minutes on 2 cores).
bench: bench-env servers
	$(UV) run --no-sync python benchmarks/run_all.py --amazon-python $(AMAZON_ENV)/bin/python

# The fault tests once more, counting what they inject, into docs/reliability.md's fault matrix (~3 minutes).
fault-matrix: bootstrap
	$(UV) run --no-sync python tests/fault_matrix.py

# The whole HA matrix on the demo's ha profile (tests/e2e/test_ha.py with HA_MATRIX=full: a triggerer stalled,
# SIGKILLed, a rolling restart, a user action, a SIGKILLed Celery worker; ~10 minutes). CI runs a part of it.
ha-matrix: bootstrap servers
	HA_MATRIX=full $(UV) run --no-sync pytest tests/e2e/test_ha.py -rA

# Every case of tests/e2e/test_exit_paths.py (EXIT_PATHS=full): CI runs a user's action on a task waiting in a
# worker and the dagrun_timeout; this adds the deferred user action, the reschedule sensor marked failed and
# the last try of a task whose worker died without it (about 3 minutes on 2 cores).
exit-paths: bootstrap
	EXIT_PATHS=full $(UV) run --no-sync pytest tests/e2e/test_exit_paths.py -rA
