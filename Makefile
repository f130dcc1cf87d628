# The course kit's entry points. `make demo` and `make test` do all the set-up themselves.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Training cells, notebooks and end-to-end tests run on tiny subsets under AEKIT_FAST=1.
export MPLBACKEND := Agg

.PHONY: help setup sandbox-tools data demo test test-full release check lint format notebooks bench clean

help:
	@echo "make setup      create .venv and install the pinned dependencies (idempotent)"
	@echo "make data       prepare MNIST (offline route through the package registry)"
	@echo "make demo       the kit's main job: release, sample submissions, grade, report"
	@echo "make test       the kit's tests (end-to-end ones in fast mode)"
	@echo "make test-full  the same tests with the slow ones at full size"
	@echo "make release    regenerate release/ and solutions/ from source/ with nbgrader"
	@echo "make check      lint, the course's notebooks and checks agree, release/ + solutions/ fresh, no leaks"
	@echo "make notebooks  execute every source notebook top to bottom in fast mode"
	@echo "make bench      the benchmarks quoted in the README"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory sandbox-tools
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[instructor,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

# The grader's sandbox: bubblewrap and libseccomp, from the distribution (as root), or the
# one command to run.
sandbox-tools:
	@if command -v bwrap >/dev/null && ldconfig -p | grep -q libseccomp.so.2; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get install -y -q bubblewrap libseccomp2 >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null && apt-get install -y -q bubblewrap libseccomp2 >/dev/null)) && \
		echo "installed bubblewrap and libseccomp2 for the grader's sandbox"; \
	else echo "The grader's sandbox needs bubblewrap and libseccomp: run" \
		"'sudo apt-get install bubblewrap libseccomp2' (or your distribution's equivalent)."; fi

data: setup
	$(BIN)/aekit data mnist

demo: setup data
	$(BIN)/aekit demo

test: setup
	AEKIT_FAST=1 $(BIN)/python -m pytest -q

test-full: setup
	$(BIN)/python -m pytest -q

release: setup
	$(BIN)/aekit release

check: setup
	$(BIN)/ruff check aekit autograder tests benchmarks source
	$(BIN)/ruff format --check aekit autograder tests benchmarks
	$(BIN)/python -m autograder.course
	$(BIN)/aekit release --check
	$(BIN)/python -m autograder.leaks
	@out=$$(mktemp -d) && $(BIN)/aekit bundle --out $$out/bundle.zip; status=$$?; rm -rf $$out; exit $$status

format: setup
	$(BIN)/ruff check --fix aekit autograder tests benchmarks
	$(BIN)/ruff format aekit autograder tests benchmarks

notebooks: setup data
	AEKIT_FAST=1 $(BIN)/aekit run-notebooks

bench: setup data
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache gradebook.db
