# make run: set everything up, index the default notes, start the assistant.
# make test: run the whole test suite (what CI runs).
PY := .venv/bin/python
NOTES ?= corpus/notes
INDEX ?= .cache/index

.PHONY: setup models run index test test-fast lint bench

setup:
	@bash scripts/setup.sh

models: setup
	$(PY) -m assistant prepare-models

index: setup
	$(PY) -m assistant index --notes $(NOTES) --index $(INDEX)

run: models index
	$(PY) app.py --notes $(NOTES) --index $(INDEX)

test: setup
	$(PY) -m pytest -q

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

bench: setup
	$(PY) -m eval.bench_retrieval --out docs/results/retrieval.json
	$(PY) -m eval.bench_scale --out docs/results/scale.json
