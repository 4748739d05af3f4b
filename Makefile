# The two commands a newcomer needs are `make run` and `make test`; both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint bench lock clean

install: $(STAMP)

# Reinstall only when the lockfile changes. The lock pins every package with hashes.
$(STAMP): requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $(STAMP)

run: install
	$(BIN)/python manage.py serve

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/python manage.py makemigrations --check --dry-run

bench: install
	$(BIN)/python -m tests.bench

# Regenerate requirements.lock after editing pyproject.toml (needs `uv` on PATH).
lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV)
