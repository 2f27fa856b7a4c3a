# Two commands: `make demo` and `make test`. Both set everything up on a fresh Debian/Ubuntu machine
# (apt packages, then a virtual environment in .venv); `make demo` installs what running needs,
# `make test` the test tools too, and runs the linters (ruff, mypy --strict) before the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Fonts: the synthetic UK plates of samples/plates.py (tests, benchmarks).
APT_PACKAGES := ffmpeg redis-server fonts-roadgeek fonts-dejavu-core fonts-liberation
LINTED := pipeline evidence models api workers cli benchmarks samples tests

.PHONY: setup setup-run sysdeps demo test lint samples clean

sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=77,<82"

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[test]"
	touch $(RUN_STAMP) $(TEST_STAMP)

setup-run: sysdeps $(RUN_STAMP)

setup: sysdeps $(TEST_STAMP)

samples: setup-run
	$(PY) samples/make_samples.py

demo: setup-run
	@[ -f samples/out/public_1080p.mp4 ] || $(PY) samples/make_samples.py
	$(VENV)/bin/evidence demo

lint: setup
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) data samples/out .pytest_cache
