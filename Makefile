# The two commands a newcomer needs are `make run` and `make test`; both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint bench lock schema clean

install: $(STAMP)

# Reinstall only when a lockfile changes. The locks pin every package with hashes:
# requirements.lock is what production runs (the Docker image installs it alone),
# requirements-dev.lock adds the test and lint tools; a checkout installs the latter.
$(STAMP): requirements.lock requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	touch $(STAMP)

run: install
	$(BIN)/python manage.py serve

# The tests sign nothing that matters; a run against a real database still needs a key.
TEST_SECRET_KEY := test-only-key-of-make-test-not-for-any-server
test: install
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-$(TEST_SECRET_KEY)} $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-$(TEST_SECRET_KEY)} \
		$(BIN)/python manage.py makemigrations --check --dry-run

bench: install
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-$(TEST_SECRET_KEY)} $(BIN)/python -m tests.bench

# Regenerate the checked-in OpenAPI schema after changing an API (a test compares it with the
# served one).
schema: install
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-$(TEST_SECRET_KEY)} \
		$(BIN)/python manage.py spectacular --validate --fail-on-warn --file campaigner/api/openapi.yaml

# Regenerate both locks after editing pyproject.toml (needs `uv` on PATH: `pip install uv`).
# Each keeps the versions it already pins where they still satisfy pyproject.toml.
LOCK_FLAGS := --python-version 3.11 --python-platform x86_64-unknown-linux-gnu --generate-hashes
lock:
	uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements.lock
	uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) -o requirements-dev.lock

clean:
	rm -rf $(VENV)
