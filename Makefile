# Two commands do everything on a fresh machine with a bare Python 3.11+ and make:
#   make demo   the bot against a local Telegram, with a rider filing reports
#   make test   lint, types and the whole test suite (SQLite, and PostgreSQL when it answers)
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: demo run test lint types pytest bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(PY) -m bot.demo

run: $(VENV)/.installed
	$(PY) -m bot

test: $(VENV)/.installed lint types pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: $(VENV)/.installed
	$(VENV)/bin/mypy

# PostgreSQL is used when it answers on 127.0.0.1:5432; on these machines the machine's own
# command starts it if it is down. Without it the PostgreSQL tests are skipped, and say so.
pytest: $(VENV)/.installed
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || \
		(command -v pg_ctlcluster >/dev/null && \
		 pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start 2>/dev/null) || true
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) bench/routing.py
	$(PY) bench/digest.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
