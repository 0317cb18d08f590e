# The two commands: `make run` (serve on http://127.0.0.1:8000 with SQLite under ./data/) and `make test`.
# Both install exact versions with hashes from the lock files and resolve nothing; `make lock` refreshes
# the lock files (an upgrade is a commit of its own, and runs the suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

# requirements.lock: the server's dependencies. requirements-test.lock: those plus the `otel` and `test`
# extras, at the same versions. Both also pin the pip and setuptools that install and build the project.
LOCK      := requirements.lock
TEST_LOCK := requirements-test.lock
# uv (`uv pip compile`) writes the lock files; it is pinned with its hashes in this lock of its own and
# installed in a venv of its own, outside .venv.
TOOL_LOCK := requirements-lock-tool.lock
TOOL_VENV := .lock-tool
UV        := $(TOOL_VENV)/bin/uv

.PHONY: run test install install-test lint bench migrate lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pip installs the lock with its dependency check on, so a lock that lacks a dependency fails (hash mode
# refuses anything unpinned). The project itself then goes in without dependencies and without build
# isolation: the lock's setuptools builds it, and nothing unpinned is downloaded.
define install_from
	$(BIN)/python -m pip install --quiet --require-hashes -r $(1)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
endef

$(VENV)/.installed: $(LOCK) pyproject.toml | $(BIN)/python
	$(call install_from,$(LOCK))
	touch $@

$(VENV)/.installed-test: $(TEST_LOCK) pyproject.toml | $(BIN)/python
	$(call install_from,$(TEST_LOCK))
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

migrate: install
	$(BIN)/chatloom migrate

# The key that encrypts stored credentials: CHATLOOM_SECRET_KEY when set, else ./data/secret.key (made once).
SECRET_KEY_FILE ?= data/secret.key

run: install
	@mkdir -p data
	@if [ -z "$$CHATLOOM_SECRET_KEY" ] && [ -z "$$CHATLOOM_SECRET_KEY_FILE" ] && [ ! -f $(SECRET_KEY_FILE) ]; then \
		(umask 077 && $(BIN)/chatloom secret-key > $(SECRET_KEY_FILE)) && \
		echo "  Created $(SECRET_KEY_FILE): it encrypts stored provider credentials. Keep it with the database;"; \
		echo "  without it they cannot be read. (Set CHATLOOM_SECRET_KEY to use a key of your own.)"; \
	fi
	$(BIN)/chatloom migrate
	@echo
	@echo "  chatloom is starting on http://$(HOST):$(PORT)  (API docs: http://$(HOST):$(PORT)/docs)"
	@echo "  Create an API key in another terminal with:"
	@echo "      $(BIN)/chatloom keys create --org my-org"
	@echo "  then call the API with 'Authorization: Bearer <key>'."
	@echo "  Open http://$(HOST):$(PORT) and paste your key."
	@echo
	CHATLOOM_SECRET_KEY_FILE=$${CHATLOOM_SECRET_KEY_FILE:-$(SECRET_KEY_FILE)} \
		$(BIN)/chatloom serve --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install-test lint
	$(BIN)/pytest

bench: install-test
	$(BIN)/python -m bench.turns

$(UV): $(TOOL_LOCK)
	$(PYTHON) -m venv $(TOOL_VENV)
	$(TOOL_VENV)/bin/python -m pip install --quiet --require-hashes -r $(TOOL_LOCK)
	touch $@

# The lock's inputs: pyproject.toml's dependencies and extras, plus pip and the setuptools its
# [build-system] asks for. Resolved once for every platform and Python >= 3.11 (markers select per machine).
LOCK_INPUTS := pip 'setuptools>=77'
UV_COMPILE  := $(UV) pip compile --universal --python-version 3.11 --generate-hashes --quiet \
	--custom-compile-command 'make lock'
# `make lock` takes the newest releases pyproject.toml allows; `make lock LOCK_UPGRADE=` keeps the locked
# versions and only resolves what changed in pyproject.toml.
LOCK_UPGRADE ?= --upgrade

# The runtime lock is resolved under the test lock (-c), so the packages they share have one version.
lock: $(UV)
	printf '%s\n' $(LOCK_INPUTS) | $(UV_COMPILE) $(LOCK_UPGRADE) pyproject.toml - --extra otel --extra test \
		-o $(TEST_LOCK)
	printf '%s\n' $(LOCK_INPUTS) | $(UV_COMPILE) $(LOCK_UPGRADE) pyproject.toml - -c $(TEST_LOCK) -o $(LOCK)

clean:
	rm -rf $(VENV) $(TOOL_VENV) .pytest_cache .mypy_cache .ruff_cache
