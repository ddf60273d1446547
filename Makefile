# One command each: `make pipeline` sets up and runs the whole pipeline, `make test` the tests.
# `make setup` installs exactly uv.lock into .venv (and nothing else); both call it.
PYTHON ?= python3
# The TensorFlow build: cpu, or gpu for the CUDA build (`make pipeline DEVICE=gpu`). JAX's CPU build
# comes too (the `jax` extra), so either `train.backend` trains and the tests run both.
DEVICE ?= cpu
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
# Set-up never downloads a Python: it uses $(PYTHON), which must be 3.10 to 3.13.
export UV_PYTHON_DOWNLOADS := never
# uv from the PATH, else one installed from the package registry at a pinned version.
UV := $(or $(shell command -v uv 2>/dev/null),.uv/bin/uv)
# The stages run `python -m stages.X`: put the project's environment first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup pipeline test test-fast lint browser postgres best search demo screenshot

# With the interpreter's own pip when it has one (2 s); else a venv that brings pip (5 s).
.uv/bin/uv:
	$(PYTHON) -m venv --without-pip .uv && \
	  $(PYTHON) -m pip --python .uv/bin/python install --quiet --disable-pip-version-check uv==$(UV_VERSION) || \
	  { rm -rf .uv && $(PYTHON) -m venv .uv && \
	    .uv/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); }

setup: $(UV) node_modules/.package-lock.json
	@case "$(DEVICE)" in cpu|gpu) ;; *) echo "DEVICE=$(DEVICE): expected cpu or gpu" >&2; exit 2;; esac
	@# Compiled bytecode: where Python may not write its own .pyc files (PYTHONDONTWRITEBYTECODE,
	@# read-only installs) it would compile TensorFlow again in every stage, seconds each time.
	$(UV) sync --locked --quiet --compile-bytecode --python $(PYTHON) --extra $(DEVICE) --extra jax
	@# The page template that lets `dvc plots show/diff` pages draw offline, set in the local
	@# (git-ignored) config: a clone set up without make keeps DVC's own online template.
	$(BIN)/python -m tools.offline_plots_template --out .dvc/offline_plots.html
	$(BIN)/dvc config --local plots.html_template offline_plots.html

# The page's runtime (LiteRT.js), exactly as package-lock.json pins it, again only when the lock
# changed; the page stage needs it (and runs `npm ci` itself where it is missing).
node_modules/.package-lock.json: package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error; \
	  else echo "note: install Node.js 18+ and npm: the page stage needs them (\`npm ci\`)"; fi

pipeline: setup
	$(BIN)/dvc repro

# The best exact LeNet-5 found: the default recipe (elastic field included) for 20 epochs at batch
# 256, rate 0.01, the last 2 unaugmented; its accuracy over seeds and its training time are in
# README.md's results. An experiment: `dvc exp show` lists it, `dvc exp apply lenet5-best` keeps it.
BEST := -S train.epochs=20 -S train.batch_size=256 -S train.learning_rate=0.01 \
  -S "train.adam_betas=[0.7,0.9]" -S train.unaugmented_epochs=2
best: setup
	$(BIN)/dvc exp run -n lenet5-best $(BEST)

# A hyperparameter search over search.yaml, each trial a DVC experiment (`dvc exp show` lists
# them): `make search TRIALS=20 SEEDS="1 2"`; STORAGE=postgresql://USER@HOST/DB for a study that
# workers on other machines join (docs/scaling.md). It prints the best trial and how to apply it.
TRIALS ?= 20
SEEDS ?=
STORAGE ?=
search: setup
	$(BIN)/python -m tools.search --trials $(TRIALS) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(STORAGE),--storage $(STORAGE))

# The page tests and the plots test open pages in headless Chromium (Debian's chromium package),
# driven by Playwright. As root with apt-get it is installed here; otherwise those tests are
# skipped (they fail under CI=true).
browser:
	@command -v chromium >/dev/null || command -v chromium-headless-shell >/dev/null || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: install chromium to run the browser test of the plots page"; fi

# The search's many-machine test runs its own PostgreSQL server (Debian's postgresql package); as
# root with apt-get it is installed here, otherwise that test is skipped (it fails under CI=true).
postgres:
	@command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "note: install postgresql to run the search's many-machine test"; fi

test: setup browser postgres
	$(BIN)/python -m pytest

# Everyday edits: every test that needs no `dvc repro` and no training (marked in tests/conftest.py;
# docs/development.md says how long it takes). `make test` (what CI runs) before a commit that
# touches the pipeline.
test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

# Python 3.11+ (the workflow checkers need it): code style, the lock against pyproject.toml, and the
# CI workflow offline against GitHub's schema and zizmor's security audits.
lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(UV) lock --check --quiet --python $(PYTHON)
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --min-severity medium .github/workflows

# The draw-a-digit page that `make pipeline` built (web/), served on 127.0.0.1; PORT=8001 for another port.
PORT ?= 8000
demo: setup
	@test -f web/index.html || { echo "web/: no page yet; run \`make pipeline\` (or \`dvc repro page\`)" >&2; exit 2; }
	$(BIN)/python -m tools.serve_page --folder web --port $(PORT)

# README's picture of the page: a digit drawn with the mouse in headless Chromium, as the tests draw.
screenshot: setup browser
	$(BIN)/python -m tools.screenshot_page --folder web --out docs/images/page.png

# ---------------------------------------------------------------------------------------------------
# The lab (lab/): the pipeline that makes the numbers README.md and docs/ publish. A copy of this
# template for your own data can delete lab/ and this block (docs/make-it-yours.md).
.PHONY: lab lab-torch docs docs-check

# Remakes what today's code made stale (`dvc status lab/dvc.yaml` lists it); lab/README.md says how
# long each stage takes. The speed benchmark's PyTorch peer needs `make lab-torch` first.
lab: setup
	$(BIN)/dvc repro lab/dvc.yaml

# PyTorch (CPU build) in its own environment, .torch/, for the speed benchmark's peer only.
lab-torch:
	test -x .torch/bin/python || { $(PYTHON) -m venv .torch && .torch/bin/pip install --quiet torch==2.13.0 numpy; }

# Every results table in README.md and docs/, written again from the lab's outputs (lab/results/),
# the committed run's metrics/ and params.yaml.
docs: setup
	$(BIN)/python -m lab.docs_tables

# What the project publishes: fails, naming each table and `make docs`, where a page differs from
# its data, and naming each stage and its command where today's code made a lab stage stale. CI runs
# it. Not part of `make test`: your own experiments change metrics/ and params.yaml.
docs-check: setup
	$(BIN)/python -m lab.docs_tables --check
