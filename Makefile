# `make run` and `make test` set up everything they need (a virtualenv in .venv) first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck bench clean setup browser

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/paper-digest --config config run

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

# The browser tests need Debian's chromium. Install it when we can (root with apt-get);
# where we cannot, those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  >/dev/null 2>&1 || echo "note: chromium could not be installed; browser tests will skip"; }

lint: $(STAMP)
	$(BIN)/ruff check worker tests bench
	$(BIN)/mypy worker

bench: $(STAMP)
	$(BIN)/python bench/parsers.py

clean:
	rm -rf $(VENV) out data .pytest_cache
