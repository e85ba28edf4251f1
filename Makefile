# Two commands: `make run` serves a demo shop on http://127.0.0.1:8080,
# `make test` runs the whole suite. Both create .venv and install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TEST_DEBS := postgresql chromium chromium-driver postfix dovecot-imapd dovecot-lmtpd nginx

.PHONY: run test lint bench venv deps test-deps debs clean messages

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.deps: requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.test-deps: requirements-test.txt $(VENV)/.deps
	$(PIP) install -q -r requirements-test.txt
	touch $@

deps: $(VENV)/.deps
test-deps: $(VENV)/.test-deps

# Debian packages the tests use for real: PostgreSQL, Chromium and its driver, Postfix
# and Dovecot. One `apt-get update`, then install only what is missing; nothing prompts
# (Postfix is told to write no configuration of its own: the tests bring theirs).
debs:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  echo "postfix postfix/main_mailer_type select No configuration" | $(SUDO) debconf-set-selections; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

run: deps
	$(PY) run.py serve

# Re-extract the staff app's texts into bot/locale/messages.pot (babel.cfg says from where)
# and merge them into every locale's messages.po; translators then fill the new msgstr.
LOCALES := en vi th pl ru km
messages: deps
	$(VENV)/bin/pybabel -q extract -F babel.cfg -k lazy -k lazy_p:1c,2 -k N_ --no-location --sort-output \
	  --omit-header -o bot/locale/messages.pot .
	for l in $(LOCALES); do \
	  if [ -f bot/locale/$$l/LC_MESSAGES/messages.po ]; then \
	    $(VENV)/bin/pybabel -q update --no-fuzzy-matching --ignore-obsolete -i bot/locale/messages.pot \
	      -d bot/locale -l $$l; \
	  else $(VENV)/bin/pybabel -q init -i bot/locale/messages.pot -d bot/locale -l $$l; fi; \
	done

# ruff, mypy --strict, and the import contracts (pyproject's [tool.importlinter]: the one-way
# layers, no channel imported by the core or the services, front ends never import each
# other, no cycle).
lint: test-deps
	$(VENV)/bin/ruff check bot channels scheduler listening config tests bench run.py
	$(VENV)/bin/mypy bot channels scheduler listening config
	$(VENV)/bin/lint-imports --no-cache

test: test-deps debs lint
	$(PY) -m pytest -q --durations=25

bench: test-deps
	$(PY) bench/ingest.py
	$(PY) bench/inbox_list.py
	$(PY) bench/telegram.py
	$(PY) bench/publish.py
	$(PY) bench/drip.py
	$(PY) bench/sentiment.py
	$(PY) bench/reports.py

clean:
	rm -rf $(VENV)
