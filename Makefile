# The README's two commands:
#   make demo   extract from the local Genesys simulator into DuckDB, verify, summarise
#   make test   ruff + mypy + the whole pytest suite (unit, simulator, end-to-end PostgreSQL)
# Both do their own set-up (scripts/bootstrap.sh is idempotent and fast when nothing changed):
# the demo installs only what it needs (tap, simulator, meltano, duckdb, two plugins).
#   make test-fast   ruff + unit and simulator tests, about a minute (no e2e, fault or
#                    whole-tap integration tests)

VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=
# pytest-xdist workers: most tests wait on subprocesses, servers and simulated latency, so 3
# workers keep 2 cores busy; worksteal lets an idle worker take queued tests from a busy one, so
# the long end-to-end tests do not pile up on one worker (PYTEST_WORKERS=0: one process)
PYTEST_WORKERS ?= 3

.PHONY: demo test test-fast bootstrap bootstrap-demo bootstrap-test lint types pytest pytest-fast e2e clean-demo bench mutation

demo: bootstrap-demo
	$(BIN)/python scripts/demo.py

test: bootstrap-test lint types pytest

test-fast: bootstrap lint pytest-fast

bootstrap:
	@bash scripts/bootstrap.sh

bootstrap-demo:
	@bash scripts/bootstrap.sh --demo

bootstrap-test:
	@bash scripts/bootstrap.sh --postgres

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types:
	$(BIN)/mypy
	$(BIN)/mypy scripts/demo.py

# pytest exit 5 means "no tests collected": never a success.
pytest:
	@$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; fi; \
	exit $$rc

# The quick loop (about a minute): the unit and simulator tests, without the end-to-end, fault
# and whole-tap (integration) tests.
pytest-fast:
	@$(BIN)/pytest -n 2 -m "not e2e and not faults and not integration" --ignore=tests/e2e \
	  --ignore=tests/faults $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; fi; \
	exit $$rc

e2e: bootstrap-test
	$(BIN)/pytest -m e2e $(PYTEST_ARGS)

# Benchmark suite (figures and ratios, ~10 min; BENCH_ARGS=--quick for a short smoke run)
BENCH_ARGS ?=
bench: bootstrap
	$(BIN)/python -m bench $(BENCH_ARGS)

# Mutation testing of the pure core (pagination, windows, ratebudget, open_conversations), a few
# minutes; not part of `make test` or .ci/run. Configured in pyproject.toml [tool.mutmut];
# how to read the result: docs/testing.md. MUTATION_ARGS=--max-children N to change parallelism.
MUTATION_ARGS ?= --max-children 2
mutation: bootstrap
	rm -rf mutants
	$(BIN)/mutmut run $(MUTATION_ARGS)
	$(BIN)/mutmut results

clean-demo:
	rm -rf .demo
	$(BIN)/meltano --environment=demo state clear --force demo:tap-genesys-analytics-to-target-duckdb || true
