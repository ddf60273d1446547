# One command each: `make pipeline` sets up and runs the whole pipeline, `make test` the tests.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The stages run `python -m stages.X`: put the project's environment first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: pipeline test lint bench browser

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# The page template that lets `dvc plots show/diff` pages draw offline (see .dvc/config).
.dvc/offline_plots.html: $(VENV)/.installed tools/offline_plots_template.py
	$(BIN)/python -m tools.offline_plots_template --out $@

pipeline: $(VENV)/.installed .dvc/offline_plots.html
	$(BIN)/dvc repro

# The plots test opens the offline page in headless Chromium (Debian's chromium package). As root
# with apt-get it is installed here; otherwise that one test is skipped (it fails under CI=true).
browser:
	@command -v chromium >/dev/null || command -v chromium-headless-shell >/dev/null || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: install chromium to run the browser test of the plots page"; fi

test: $(VENV)/.installed .dvc/offline_plots.html browser
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(VENV)/.installed
	$(BIN)/python -m bench.train_speed
