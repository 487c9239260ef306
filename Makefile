# Developer and CI entry points.  `make test` and `make demo` create (or reuse) .venv first.
#
#   make venv    create .venv if missing; install torch (CPU build) first, then this package
#                with its testing extra and the trainer, both editable.  Reinstalls only when
#                a pyproject.toml changes (stamp file .venv/.napari-glra-installed).
#   make test    the whole test suite, headless (QT_QPA_PLATFORM=offscreen), then ruff and the import
#                contracts (lint-imports; layers in CONTRIBUTING.md)
#   make test-quick   the suite without the tests marked slow (a quick loop while editing)
#   make test-user-layout  the suite as on a user's clone without ../shared (data tests skip)
#   make demo    deblur a bundled image (GLRA linear block vs Wiener) into demo_output/
#   make lint    ruff only
#   make bench   the benchmark suite (benchmarks/run_benchmarks.py): regenerates docs/benchmarks.md,
#                its figures (docs/figures/) and CSVs (docs/data/); about 8 min on 2 CPU cores.
#                BENCH_ARGS=--quick for under 2 min; BENCH_ARGS='--model DIR' for another model.
#   make docs    the documentation site (mkdocs-material, strict: warnings are errors) into site/;
#                installs the `docs` extra into .venv first
#   make docs-figures  screenshots of both widgets and a before/after, from a real (offscreen)
#                napari viewer (docs/make_figures.py) into docs/figures/
#   make clean   remove build outputs and caches (keeps .venv; `make distclean` removes it too)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.napari-glra-installed
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
BENCH_ARGS ?=
DOCS_STAMP := $(VENV)/.napari-glra-docs-installed
LINT_PATHS := src tests benchmarks trainer

.PHONY: venv test test-quick test-user-layout demo lint bench docs docs-figures clean distclean

venv: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first (the CPU build found locally), so the package's `torch>=2.2` is already met.
$(STAMP): pyproject.toml trainer/pyproject.toml | $(PY)
	$(PY) -m pip install $(TORCH_SPEC)
	$(PY) -m pip install -e '.[testing]' -e ./trainer
	touch $@

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q $(PYTEST_ARGS)
	$(PY) -m ruff check $(LINT_PATHS)
	$(VENV)/bin/lint-imports

test-quick: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-user-layout: $(STAMP)
	NAPARI_GLRA_TESTS_WITHOUT_SHARED=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m napari_glra.demo --out demo_output

lint: $(STAMP)
	$(PY) -m ruff check $(LINT_PATHS)
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) benchmarks/run_benchmarks.py $(BENCH_ARGS)

$(DOCS_STAMP): pyproject.toml | $(STAMP)
	$(PY) -m pip install -e '.[docs]'
	touch $@

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

docs-figures: $(STAMP)
	$(PY) docs/make_figures.py

clean:
	rm -rf build dist demo_output .pytest_cache .ruff_cache site
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name '*.egg-info' -type d -print -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
