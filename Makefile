# Two commands a reader needs: `make book` (build the book) and `make test` (every test).
# Both create the virtual environment $(VENV) from constraints.txt on first use.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
export GANBOOK_PROGRESS ?= 0
# The chapters are executed (`make notebooks`) and re-checked (`make nbval`) on one thread: their
# networks are small, one thread is the fastest for them on a shared CPU (ganbook.threads), and
# the stored outputs are then the numbers a re-run gives, whatever the core count.
export OMP_NUM_THREADS ?= 1
NOTEBOOKS := $(sort $(wildcard book/*.ipynb))
# nbval checks two notebooks at a time (pytest-xdist, one worker and one kernel per notebook):
# on a 2-core machine that halves the stage's wall time. NBVAL_WORKERS=0 runs them one by one.
NBVAL_WORKERS ?= 2

.PHONY: book test lint unit nbval book-strict browser notebooks bench clean env

# Every command below imports this checkout's ganbook first, whatever the venv has installed.
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

env: $(VENV)/.installed

# An existing VENV whose ganbook comes from another checkout (a shared venv, e.g.
# `make book VENV=../main/.venv`) is used as it is: reinstalling would re-point its editable
# install at this clone. Otherwise (no venv yet, or ganbook installed from here) install.
$(VENV)/.installed: constraints.txt pyproject.toml
	@home=$$(cd / && PYTHONPATH= $(abspath $(PY)) -c "import ganbook, pathlib; \
	  print(pathlib.Path(ganbook.__file__).resolve().parent.parent)" 2>/dev/null || true); \
	if [ -n "$$home" ] && [ "$$home" != "$(CURDIR)" ]; then \
	  echo "$(VENV) has ganbook from $$home: using it as it is (this checkout comes first)"; \
	else \
	  python3 -m venv $(VENV) && \
	  $(PY) -m pip install -q --upgrade pip setuptools wheel && \
	  $(PY) -m pip install -q -c constraints.txt -e ".[book,dev]"; \
	fi
	@touch $@

book: env  ## build the HTML book into _build/html
	$(VENV)/bin/jupyter-book build . --path-output . -W -n --keep-going
	@echo "open _build/html/index.html"

test: lint book-strict unit nbval browser  ## everything CI runs (the build first: tests read it)

lint: env
	$(VENV)/bin/ruff check .

unit: env
	$(PY) -m pytest tests

nbval: env
	@if [ -n "$(NOTEBOOKS)" ]; then $(PY) -m pytest --nbval --nbval-sanitize-with book/sanitize.cfg $(NOTEBOOKS) -p no:cacheprovider \
	  $(if $(filter-out 0,$(NBVAL_WORKERS)),-n $(NBVAL_WORKERS) --dist loadfile); fi

book-strict: env
	@if [ -f _toc.yml ]; then $(VENV)/bin/jupyter-book build . --path-output . -W -n --keep-going; fi

browser: env  ## every built page in headless Chromium (needs `chromium`), offline, at 1280 and 390 px
	@if [ ! -f _build/html/index.html ]; then $(MAKE) --no-print-directory book-strict; fi
	$(PY) tests/browser/check_pages.py _build/html

notebooks: env  ## re-execute every chapter in place, keeping outputs (run after changing ganbook)
	for nb in $(NOTEBOOKS); do \
	  start=$$(date +%s); \
	  $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=600 \
	    --ExecutePreprocessor.store_widget_state=True $$nb; \
	  echo "$$nb: $$(( $$(date +%s) - start )) s"; \
	done

bench: env  ## mode-coverage benchmark table (about 8 minutes on 2 CPU cores)
	$(PY) benchmarks/mode_coverage.py

clean:
	rm -rf _build .pytest_cache
