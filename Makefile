# astrograd: `make demo` runs the tour, `make test` the test suite, `make bench` the benchmarks.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
# test workers (pytest-xdist; one per core, at most 4; whole test files per worker). 0: serial.
TEST_JOBS ?= auto
XDIST  := -n $(TEST_JOBS) --maxprocesses 4 --dist loadfile

.PHONY: demo test test-all bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/astrograd tour

test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q $(XDIST)

test-all: $(STAMP)
	$(PY) -m pytest -m "" -q $(XDIST)

# Our benchmarks; peer-only scripts (bench_*peer*, bench_pm_jaxpm) run under the peer's own venv.
bench: $(STAMP)
	@for f in benchmarks/bench_*.py; do \
	  case $$f in *peer*|*jaxpm*) continue;; esac; \
	  echo "# $$f" >&2; $(PY) $$f || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples

clean:
	rm -rf $(VENV) outputs .pytest_cache
