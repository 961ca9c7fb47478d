# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev lint pytest jstest wasm bench clean

# The stamp files make re-runs cheap: pip only runs again when pyproject.toml or the C source
# of the PDQ index's compiled scan (built in place by the editable install) changes.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

COMPILED := hashbank/platform/_pdqscan.c hashbank/platform/_pdqscan_scan.h

$(VENV)/.installed: pyproject.toml $(COMPILED) | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(COMPILED) | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev,platform]"
	if pkg-config --exists libavformat libavcodec libswscale 2>/dev/null; then \
		$(BIN)/pip install --quiet -e ".[dev,platform,video]"; \
	else echo "FFmpeg development libraries not found: vPDQ tests will skip (apt-get install libavformat-dev ...)"; fi
	touch $(VENV)/.installed $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev node_modules/.installed

# The embedded default: SQLite file, jobs run in-process, no Redis needed.
run: install
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: install-dev
	$(BIN)/ruff check .

jstest: node_modules/.installed
	node --test tests/js/

# Reassemble static/fingerprint/kernels-wasm.js after editing kernels.wat (tests/js checks
# that the committed binary is what the text assembles to).
wasm: node_modules/.installed
	node tools/build-wasm.mjs

pytest: install-dev
	$(BIN)/pytest

test: install-dev lint jstest pytest

clean:
	rm -rf $(VENV) node_modules staticfiles
