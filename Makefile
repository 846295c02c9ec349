# Two commands do all set-up on a fresh machine (Python 3.11+):
#   make demo   - builds .venv, generates a demo workspace and runs two report rounds
#   make test   - builds .venv, runs lint, types and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench clean browser postgres

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/automation demo --workspace demo-workspace

lint: $(BIN)/.installed
	$(BIN)/ruff check automation tests bench tools
	$(BIN)/ruff format --check automation tests bench tools
	$(BIN)/mypy

# The console's browser specs drive Debian's Chromium (and screenshot Japanese text with a
# Japanese font); install them once when missing.
browser:
	@{ test -x /usr/bin/chromium && dpkg -s fonts-ipafont-gothic >/dev/null 2>&1; } || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update && $$SUDO apt-get install -y chromium fonts-ipafont-gothic; }

# The state specs run on SQLite and on a real PostgreSQL the tests start themselves (a temp
# folder, a free port): install the distribution's server once when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update && $$SUDO apt-get install -y postgresql; }

test: lint browser postgres
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/damage_rollup.py
	$(BIN)/python bench/damage_rollup.py --rows 2000 --repeat 1
	$(BIN)/python bench/progress_collection.py
	$(BIN)/python bench/serve_runs.py
	$(BIN)/python bench/compare.py
	$(BIN)/python bench/console_pages.py
	$(BIN)/python bench/save_to_post.py
	$(BIN)/python bench/save_to_post.py --rows 2000
	$(BIN)/python bench/save_to_post.py --every-sheet
	$(BIN)/python bench/report_first.py

clean:
	rm -rf $(VENV) demo-workspace test-artefacts .mypy_cache .pytest_cache .ruff_cache
