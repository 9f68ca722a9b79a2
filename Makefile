# skctl developer entry points. `make test` and `make demo` work on a fresh machine with
# only Python 3.10+ and Node/npm: they create .venv and node_modules from the project's files.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: test demo pyz bench perf-report lint clean controlplane cluster e2e fuzz docs chromium

$(STAMP): pyproject.toml package.json
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[test]'
	npm install --no-audit --no-fund --loglevel=error
	touch $(STAMP)

test: $(STAMP)
	$(VPY) -m pytest -q $(PYTEST_ARGS)

# Headless Chromium (Debian's package) for the report page's browser test; the test skips without it.
chromium:
	scripts/install_chromium.sh

# The real control plane (kube-apiserver, etcd, controller-manager, scheduler, KWOK, kubectl)
# built from the Go modules pinned in controlplane/, cached outside the checkout; then
# metrics-server v0.8.0 from its own module under its own cache key (instant when cached).
controlplane:
	$(PY) tests/e2e/binaries.py

# A real control plane with 4 KWOK nodes in the foreground; prints KUBECONFIG=<path> once ready.
# CLUSTER_ARGS=--metrics-server adds metrics-server (KWOK pods report annotated usage; HPAs act).
cluster: $(STAMP) controlplane
	$(VPY) tests/e2e/cluster.py $(CLUSTER_ARGS)

# The e2e tests against the real control plane; here a skipped e2e test is a failure.
e2e: $(STAMP) controlplane
	SKCTL_E2E_REQUIRED=1 $(VPY) -m pytest -q -m e2e tests/e2e $(PYTEST_ARGS)

pyz: $(STAMP)
	$(VPY) scripts/build_zipapp.py

# The whole loop through the single file, no cluster: two loopback API servers, record, export,
# xray, run --dry-run, replay, compare (docs/getting-started.md). DEMO_ARGS e.g. --seconds 60 --keep out
demo: pyz
	$(PY) dist/skctl.pyz demo $(DEMO_ARGS)

# docs/reference/*.md from the argparse definitions (tests/test_docs.py checks they agree)
docs: $(STAMP)
	$(VPY) scripts/gen_cli_docs.py

# Every bench/bench_*.py, BENCH_RUNS rounds (medians printed at the end); each figure also goes
# to build/bench.jsonl. BENCH_ONLY=codec,growth runs only those.
BENCH_RUNS ?= 1
PERF_RUNS ?= 3
BENCH_ONLY ?=
bench: pyz
	$(VPY) scripts/perf_report.py run --runs $(BENCH_RUNS) --only '$(BENCH_ONLY)'

# PERF_RUNS rounds of every bench, then docs/performance.md from their figures.
perf-report: pyz
	$(VPY) scripts/perf_report.py all --runs $(PERF_RUNS) --only '$(BENCH_ONLY)'

# Coverage-guided fuzzing of the trace decoders (atheris, the optional `fuzz` extra); FUZZ_SECONDS long.
# The suite's bounded hypothesis fuzz tests are tests/test_fuzz.py.
FUZZ_SECONDS ?= 600
fuzz: $(STAMP)
	$(VPY) -m pip install --quiet -e '.[fuzz]'
	$(VPY) scripts/fuzz_decoder.py -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -artifact_prefix=.fuzz- .fuzz-corpus

# ruff everywhere; mypy on the package (config in pyproject.toml: strict on trace, tracer, kube, storage);
# import-linter's contracts (pyproject.toml [tool.importlinter]: the layers of docs/development.md).
lint: $(STAMP)
	$(VPY) -m ruff check skctl tests bench scripts
	$(VPY) -m mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf dist build *.egg-info .pytest_cache
