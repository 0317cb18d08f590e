# The two commands: `make run` (serve on http://127.0.0.1:8000 with SQLite under ./data/) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test install install-test lint bench migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
