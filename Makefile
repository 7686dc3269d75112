# Set-up on a fresh machine needs only Python 3.11: both targets create .venv,
# install clvmodels with what it needs, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean chromium mutate

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,spark]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/clvmodels demo --output out

# The report tests render the HTML report in headless Chromium (Debian's package);
# installed here when missing and we are root, otherwise those tests say they skip.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
	  || echo "chromium not installed: the report render test will be skipped"

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

# Mutation testing of the core modules, one module at a time under nice (slow; not
# part of `test`). MUTATE="units report_tables" picks modules; results in tests/mutation/.
mutate: $(STAMP)
	PYTHONPATH=$(CURDIR) nice -n 19 $(BIN)/python tests/mutation/mutate.py $(MUTATE)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,spark,bench]"
	$(BIN)/python benchmarks/run.py $(BENCH)

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis build mutants
