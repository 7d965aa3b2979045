# linnet: build, test and authoring commands. Readers need only `make book` and `make test`.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.linnet-installed
BOOTSTRAP_PYTHON := $(shell command -v python3.11 || command -v python3)

# One BLAS thread everywhere: printed floats then do not depend on the machine's core count.
# MPLBACKEND is deliberately left unset: kernels must use ipykernel's inline backend (an exported
# MPLBACKEND=Agg reaches them and they then store no figure at all), and matplotlib picks Agg by
# itself where there is no display.
unexport MPLBACKEND
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

# Folders that exist (git does not keep empty ones) and every notebook in them.
NB_DIRS := $(wildcard chapters exercises)
NOTEBOOKS = $(shell find $(NB_DIRS) -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' 2>/dev/null | sort)
NB ?= $(NOTEBOOKS)
CELL_TIMEOUT := 120

.PHONY: help venv assets book book-student pdf pdf-book pdf-student tex test test-portable mutants browser-test chromium \
	execute bench student assignment autograde grading-test freeze binder-check binder-freeze colab-check clean

help:
	@echo "make book          set up .venv and _vendor/, build the HTML book strictly -> _build/html/index.html"
	@echo "make test          set up .venv, run ruff, the unit tests and nbval over every notebook"
	@echo "make test-portable nbval over every notebook under emulated other machines (BLAS kernel, SIMD, threads)"
	@echo "make mutants       run the mutation catalog (mutants/*.yml) -> chapters/mutation-catalog.md"
	@echo "make browser-test  open every page of the built book in headless Chromium and check what readers see"
	@echo "make student       student notebooks (solutions removed, outputs cleared) -> build/student/"
	@echo "make assignment    the exercise notebooks to hand out (nbgrader release) -> build/assignment/"
	@echo "make autograde     grade SUBMISSIONS=dir/<student>/chN-exercises.ipynb -> build/grades/grades.csv, feedback/"
	@echo "make grading-test  autograde the reference solutions, the untouched release and known wrong submissions"
	@echo "make book-student  the HTML book with the solutions removed -> _build/student-html/"
	@echo "make pdf           the book and its student edition as PDFs (XeLaTeX) -> _build/pdf/"
	@echo "make execute       re-run every notebook in place (or NB=path/to/one.ipynb)"
	@echo "make bench         time every notebook and the unit tests (nothing is overwritten)"
	@echo "make binder-check  a fresh venv from binder/ alone runs three notebooks (Binder's environment)"
	@echo "make colab-check   the notebooks' Colab cell installs linnet_lib from a local git clone into a fresh venv"
	@echo "make binder-freeze regenerate binder/requirements.txt from BINDER_DEPS under the pins of requirements.txt"
	@echo "make freeze        regenerate requirements.txt from a clean venv (authors only)"
	@echo "make clean         remove build outputs (keeps .venv)"

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt pyproject.toml
	@test -n "$(BOOTSTRAP_PYTHON)" || { echo "error: python3.11 or python3 is required" >&2; exit 1; }
	test -x $(BIN)/python || $(BOOTSTRAP_PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

assets: venv
	scripts/fetch_assets.sh $(BIN)/python

book: venv assets
	$(BIN)/jupyter-book build . --builder html --all --warningiserror --nitpick --keep-going
	$(BIN)/python scripts/check_offline.py _build/html
	$(BIN)/python scripts/api_reference.py --built _build/html
	@echo "HTML book: $(CURDIR)/_build/html/index.html"

# The book as students see it: solution cells and {solution} directives removed, solution code
# replaced by `raise NotImplementedError()` (sources staged in build/student-src by make_student.py).
book-student: venv assets
	$(BIN)/python scripts/make_student.py --book-src build/student-src
	$(BIN)/jupyter-book build build/student-src --builder html --all --warningiserror --nitpick --keep-going
	rm -rf _build/student-html && mkdir -p _build && cp -r build/student-src/_build/html _build/student-html
	$(BIN)/python scripts/check_offline.py _build/student-html
	@echo "Student HTML book: $(CURDIR)/_build/student-html/index.html"

# The PDF edition: Jupyter Book's LaTeX builder (strict, like `make book`), then latexmk with XeLaTeX, for
# the book and for the student edition (sources from make_student.py, as for book-student); each PDF is
# checked by scripts/check_pdf.py (page count, titles, boxes, figures, bibliography, the LaTeX log).
# TeX Live comes from Debian, installed here with apt-get when missing (110 MB download, 450 MB on disk; no
# recommended packages). max_print_line keeps TeX from wrapping log messages that check_pdf.py reads.
TEX_PACKAGES := texlive-xetex texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \
	fonts-freefont-otf latexmk poppler-utils
TEX_COMMANDS := xelatex latexmk kpsewhich pdfinfo pdftotext pdfimages
LATEXMK := LATEXOPTS= max_print_line=10000 latexmk -xelatex -interaction=nonstopmode -halt-on-error -quiet
PDF_MIN_PAGES := 300
tex:
	@if ! { for c in $(TEX_COMMANDS); do command -v $$c; done && kpsewhich polyglossia.sty fncychap.sty \
		unicode-math.sty pgfplots.sty && fc-list | grep -q FreeSerif; } >/dev/null 2>&1; then \
		command -v apt-get >/dev/null || { echo "error: install TeX Live with XeLaTeX, latexmk, the FreeFont fonts and poppler-utils (Debian: $(TEX_PACKAGES))" >&2; exit 1; }; \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $(TEX_PACKAGES) >/dev/null; \
	fi

# The two editions build side by side (two jobs: each build is mostly one process).
pdf: venv tex
	rm -rf _build/pdf && mkdir -p _build/pdf
	$(MAKE) -j2 --output-sync=target pdf-book pdf-student
	@echo "PDF book: $(CURDIR)/_build/pdf/linnet.pdf; student edition: $(CURDIR)/_build/pdf/linnet-student.pdf"

pdf-book:
	rm -rf _build/latex
	$(BIN)/jupyter-book build . --builder latex --all --warningiserror --nitpick --keep-going
	cd _build/latex && $(LATEXMK) linnet.tex
	cp _build/latex/linnet.pdf _build/pdf/linnet.pdf
	$(BIN)/python scripts/check_pdf.py _build/pdf/linnet.pdf --log _build/latex/linnet.log --min-pages $(PDF_MIN_PAGES)

pdf-student:
	$(BIN)/python scripts/make_student.py --book-src build/student-src
	$(BIN)/jupyter-book build build/student-src --builder latex --all --warningiserror --nitpick --keep-going
	cd build/student-src/_build/latex && $(LATEXMK) linnet.tex
	cp build/student-src/_build/latex/linnet.pdf _build/pdf/linnet-student.pdf
	cd build/student-src && ../../$(BIN)/python ../../scripts/check_pdf.py --student ../../_build/pdf/linnet-student.pdf \
		--log _build/latex/linnet.log --min-pages $(PDF_MIN_PAGES)

# One pytest run: the unit tests in tests/ and, through nbval, every notebook against its stored outputs.
# Two workers (pytest-xdist); --dist loadfile keeps all cells of a notebook in one worker, in order.
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg
XDIST := -n 2 --dist loadfile
test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/claims_ledger.py --check
	$(BIN)/python scripts/api_reference.py --check
	$(BIN)/pytest -p no:cacheprovider $(XDIST) $(wildcard tests) $(NBVAL) $(NB_DIRS)

# The notebooks as other machines run them. Each variant changes the arithmetic of this machine and runs on
# any x86-64 CPU with AVX2 (README, "For authors"): another OpenBLAS kernel with numpy's wider SIMD paths
# switched off, and an AVX2-only machine that also runs two BLAS threads instead of one. (Thread count and
# kernel were separate variants until the catalog grew; one machine that differs in both still fails on
# any output that either difference moves, and saves a third of this target's time in CI.)
PORTABLE_VARIANTS := \
	"OPENBLAS_CORETYPE=Sandybridge NPY_DISABLE_CPU_FEATURES='X86_V3 X86_V4 AVX512_ICL AVX512_SPR'" \
	"OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=2 NPY_DISABLE_CPU_FEATURES='X86_V4 AVX512_ICL AVX512_SPR'"
test-portable: venv
	@for variant in $(PORTABLE_VARIANTS); do \
		echo "== nbval under $$variant"; \
		eval "env $$variant $(BIN)/pytest -p no:cacheprovider $(XDIST) $(NBVAL) $(NB_DIRS)" || exit 1; \
	done

# The mutation catalog: each mutant (mutants/*.yml) is a wrong edit of one library function that the named
# notebook checks must catch. Writes chapters/mutation-catalog.md; fails below a 90% kill rate by checks.
mutants: venv
	$(BIN)/python scripts/mutants.py -j 2 --min-rate 0.9

# Re-run notebooks top to bottom, each in a fresh kernel, and store their outputs; then drop the
# per-cell execution timestamps so that a re-run with unchanged results gives an empty diff.
execute: venv
	@test -n "$(strip $(NB))" || { echo "no notebooks to execute" >&2; exit 1; }
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=$(CELL_TIMEOUT) --ExecutePreprocessor.kernel_name=python3 \
		--ExecutePreprocessor.record_timing=False $(NB)
	$(BIN)/python scripts/strip_timing.py $(NB)
	$(BIN)/python scripts/claims_ledger.py

bench: venv
	$(BIN)/python scripts/bench.py $(NOTEBOOKS)

# The built book in a real browser: Playwright (pinned in requirements.txt) drives Debian's chromium,
# installed here with apt-get when missing (no browser download). Run after `make book`.
CHROMIUM ?= $(shell command -v chromium || echo /usr/bin/chromium)
chromium:
	@test -x $(CHROMIUM) || { command -v apt-get >/dev/null || { echo "error: install Chromium (Debian/Ubuntu package chromium) or set CHROMIUM=/path/to/chromium" >&2; exit 1; }; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq chromium >/dev/null; }

browser-test: venv chromium
	@test -f _build/html/index.html || { echo "error: no built book: run make book first" >&2; exit 1; }
	CHROMIUM=$(CHROMIUM) $(BIN)/python scripts/browser_test.py

student: venv
	$(BIN)/python scripts/make_student.py --out build/student $(wildcard exercises)

# The course kit (scripts/course.py, nbgrader without JupyterHub or Docker): the release of the exercise
# notebooks with solutions and hidden tests removed, then grading a folder of submissions laid out as
# SUBMISSIONS/<student>/chN-exercises.ipynb, two notebooks at a time, GRADE_TIMEOUT seconds per cell.
SUBMISSIONS ?=
GRADES ?= build/grades
GRADE_TIMEOUT ?= 60
GRADE_JOBS ?= 2
assignment: venv
	$(BIN)/python scripts/course.py assignment

autograde: venv
	@test -n "$(SUBMISSIONS)" || { echo "usage: make autograde SUBMISSIONS=folder (folder/<student>/chN-exercises.ipynb)" >&2; exit 1; }
	@test -f build/course/gradebook.db || $(MAKE) assignment
	$(BIN)/python scripts/course.py autograde "$(SUBMISSIONS)" --out $(GRADES) --jobs $(GRADE_JOBS) --timeout $(GRADE_TIMEOUT)

# CI: every chapter's reference solutions score full marks, the untouched release zero, and the wrong
# submissions of tests/grading/wrong-submissions.yml what each entry says (45 s per cell: the slowest
# reference cell, Chapter 2's width experiment, took over 20 s on a loaded 2-core machine).
grading-test: venv
	$(BIN)/python scripts/course.py grading-test --jobs $(GRADE_JOBS) --timeout 45

# Authors only: re-resolve the direct dependencies in a throw-away venv and pin everything it got.
# Upper bounds: Jupyter Book 2 is a different (Node-based) tool; sphinx-book-theme 1.4 needs Sphinx 8.
DIRECT_DEPS := "jupyter-book<2" "sphinx-book-theme<1.4" sphinx-proof sphinx-exercise \
	sphinxcontrib-bibtex linkify-it-py django-static-mathjax numpy scipy matplotlib cvxpy \
	ipykernel ipywidgets scikit-learn nbclient nbconvert nbformat jupytext nbval nbgrader pytest \
	pytest-xdist hypothesis ruff pyyaml playwright axe-playwright-python
freeze:
	rm -rf build/freeze-venv
	$(BOOTSTRAP_PYTHON) -m venv build/freeze-venv
	build/freeze-venv/bin/python -m pip install --quiet --upgrade pip
	build/freeze-venv/bin/python -m pip install --quiet $(DIRECT_DEPS)
	{ sed -n '/^#/!q;p' requirements.txt; build/freeze-venv/bin/python -m pip freeze; } >requirements.txt.new
	mv requirements.txt.new requirements.txt
	rm -rf build/freeze-venv
	@echo "requirements.txt regenerated; review 'git diff requirements.txt', then run make book and make test"

# Binder's environment, rebuilt from binder/ alone (pip from PyPI, then binder/postBuild as repo2docker runs
# it) in a fresh venv; a kernel of that venv runs one notebook of each part of the book (runner: .venv).
BINDER_VENV := build/binder-venv
BINDER_NOTEBOOKS := chapters/ch1/1-2-conservation.ipynb chapters/ch4/4-1-sensing-and-nuclear-norm.ipynb \
	chapters/ch6/6-1-setup.ipynb
binder-check: venv
	rm -rf $(BINDER_VENV)
	$(BOOTSTRAP_PYTHON) -m venv $(BINDER_VENV)
	$(BINDER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r binder/requirements.txt
	env -u PYTHONPATH PATH="$(CURDIR)/$(BINDER_VENV)/bin:$$PATH" binder/postBuild
	$(BIN)/python scripts/binder_check.py --python $(BINDER_VENV)/bin/python $(BINDER_NOTEBOOKS)

# Authors only: re-resolve binder/requirements.txt (the run-time packages, BINDER_DEPS) against the pins
# of requirements.txt, in a throw-away venv.
BINDER_DEPS := numpy scipy matplotlib ipywidgets ipykernel cvxpy scikit-learn
binder-freeze:
	rm -rf build/freeze-binder
	$(BOOTSTRAP_PYTHON) -m venv build/freeze-binder
	build/freeze-binder/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.txt $(BINDER_DEPS)
	{ sed -n '/^#/!q;p' binder/requirements.txt; build/freeze-binder/bin/python -m pip freeze; } >binder/requirements.txt.new
	mv binder/requirements.txt.new binder/requirements.txt
	rm -rf build/freeze-binder

# What the notebooks' first cell does in Colab, done here. A fresh venv gets what `import linnet_lib` needs
# (numpy, scipy, matplotlib at the pins of requirements.txt, standing in for Colab's preinstalled packages)
# but not linnet_lib; the cell's code then runs once as outside Colab (it must do nothing) and once with
# google.colab faked, when it must pip-install git+file://<this repository>@HEAD (committed files only,
# with its declared dependencies, as in Colab) so that linnet_lib imports from the venv.
colab-check: venv
	rm -rf build/colab-venv
	$(BOOTSTRAP_PYTHON) -m venv build/colab-venv
	build/colab-venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.txt \
		numpy scipy matplotlib
	cd build && env -u PYTHONPATH colab-venv/bin/python ../scripts/colab_cell.py \
		--try-install "git+file://$(CURDIR)@$$(git rev-parse HEAD)"

clean:
	rm -rf _build build _vendor .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
