# Every target creates .venv when missing and installs what it needs. torch is pinned first so pip
# takes the local CPU wheel instead of resolving a CUDA build through another package's requirement.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PIN ?= torch==2.13.0
CORE := $(VENV)/.installed-core
DEV := $(VENV)/.installed-dev

.PHONY: install demo test lint bench clean browser

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# the package alone: enough for `robustcot eval` and the demo
$(CORE): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH_PIN)"
	$(BIN)/pip install -q -e .
	touch $(CORE)

# everything the test suite exercises (API, hub formats, Ray, TRL, verl, Playwright)
$(DEV): $(CORE)
	$(BIN)/pip install -q "$(TORCH_PIN)" -e ".[dev]"
	touch $(DEV)

install: $(DEV)

demo: $(CORE)
	$(BIN)/robustcot demo

# The report's browser test drives Debian's chromium through Playwright (never `playwright install`,
# which downloads). Installed when missing and apt-get is usable; otherwise that one test skips.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "note: chromium could not be installed; the browser test will be skipped"

test: $(DEV) browser
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q --timeout=600

lint: $(DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: $(DEV)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
