# skctl developer entry points. `make test` and `make demo` work on a fresh machine with
# only Python 3.10+ and Node/npm: they create .venv and node_modules from the project's files.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: test demo pyz bench lint clean

$(STAMP): pyproject.toml package.json
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[test]'
	npm install --no-audit --no-fund --loglevel=error
	touch $(STAMP)

test: $(STAMP)
	$(VPY) -m pytest -q

pyz: $(STAMP)
	$(VPY) scripts/build_zipapp.py

demo: pyz
	$(VPY) scripts/demo.py

bench: pyz
	@for f in bench/bench_*.py; do echo "== $$f"; $(VPY) $$f || exit 1; done

lint: $(STAMP)
	$(VPY) -m ruff check skctl tests bench scripts

clean:
	rm -rf dist build *.egg-info .pytest_cache
