# The README's two commands: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
# uv if it is on PATH, else the copy `bootstrap` installs for this user.
UV := $(shell command -v uv >/dev/null 2>&1 && echo uv || echo python3 -m uv)
PYTEST_ARGS ?=

.PHONY: bootstrap demo test lint typecheck unit

bootstrap:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --user --quiet uv || \
		python3 -m pip install --user --quiet --break-system-packages uv
	@$(UV) sync --extra local --locked --quiet

demo: bootstrap
	$(UV) run --no-sync airflow-batch-plus demo

lint: bootstrap
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .

typecheck: bootstrap
	$(UV) run --no-sync mypy

unit: bootstrap
	$(UV) run --no-sync pytest $(PYTEST_ARGS)

test: lint typecheck unit
