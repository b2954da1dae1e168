# Two commands a reader needs: `make book` (build the book) and `make test` (every test).
# Each creates its virtual environment on first use: $(BOOK_VENV), the book's tools only, and
# $(VENV), everything, both from constraints.txt.
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
# Workers take the notebooks in this order, longest first (their nbval times on the 2-core CPU,
# slowest first), so no long chapter starts last while the other worker idles; notebooks not
# listed come after them, in name order.
NBVAL_FIRST := $(wildcard $(addprefix book/,10_applications.ipynb 07_mode_collapse.ipynb \
  11_faq.ipynb 05_dcgan.ipynb 04_mlp_gan.ipynb 03_training_step_by_step.ipynb \
  09_evaluating_gans.ipynb 06_conditional_gan.ipynb 08_stabilising_gans.ipynb \
  appendix_gpus.ipynb))
NBVAL_ORDER := $(NBVAL_FIRST) $(filter-out $(NBVAL_FIRST),$(NOTEBOOKS))

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

# `make book` needs no PyTorch: it renders the committed notebooks, and autodoc mocks torch
# (_ext/light_autodoc.py). Its own small venv holds book/requirements.txt only; any venv with
# those (e.g. BOOK_VENV=.venv, the full one) builds the same pages.
BOOK_VENV ?= .venv-book

$(BOOK_VENV)/.installed-book: book/requirements.txt constraints.txt
	@if [ ! -x $(BOOK_VENV)/bin/python ]; then python3 -m venv $(BOOK_VENV) && \
	  $(BOOK_VENV)/bin/python -m pip install -q --upgrade pip setuptools wheel; fi
	$(BOOK_VENV)/bin/python -m pip install -q -c constraints.txt -r book/requirements.txt
	@touch $@

book: $(BOOK_VENV)/.installed-book  ## build the HTML book into _build/html
	$(BOOK_VENV)/bin/jupyter-book build . --path-output . -W -n --keep-going
	@echo "open _build/html/index.html"

test: lint book-strict unit nbval browser  ## everything CI runs (the build first: tests read it)

lint: env
	$(VENV)/bin/ruff check .

unit: env
	$(PY) -m pytest tests

nbval: env
	@if [ -n "$(NOTEBOOKS)" ]; then $(PY) -m pytest --nbval --nbval-sanitize-with book/sanitize.cfg $(NBVAL_ORDER) -p no:cacheprovider \
	  $(if $(filter-out 0,$(NBVAL_WORKERS)),-n $(NBVAL_WORKERS) --dist loadfile --no-loadscope-reorder); fi

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
