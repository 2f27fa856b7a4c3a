# Two commands: `make demo` and `make test`. Both set everything up on a fresh Debian/Ubuntu machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Fonts: the synthetic UK plates of samples/plates.py (tests, benchmarks).
APT_PACKAGES := ffmpeg redis-server fonts-roadgeek fonts-dejavu-core fonts-liberation

.PHONY: setup sysdeps demo test lint samples clean

sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=65,<82"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

setup: sysdeps $(STAMP)

samples: setup
	$(PY) samples/make_samples.py

demo: setup
	@[ -f samples/out/public_1080p.mp4 ] || $(PY) samples/make_samples.py
	$(VENV)/bin/evidence demo

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check pipeline evidence models api workers benchmarks samples tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) data samples/out .pytest_cache
