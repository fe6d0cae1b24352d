# make run: set everything up, index the default notes, start the assistant.
# make test: run the whole test suite (what CI runs).
PY := .venv/bin/python
NOTES ?= corpus/notes
INDEX ?= .cache/index

.PHONY: setup bench-venv models run index test test-fast lint typecheck bench

setup:
	@bash scripts/setup.sh

# The llama.cpp server tests/test_openai_real.py starts: a venv of its own (~5 min the
# first time, to compile llama.cpp; a check once it is there).
bench-venv: setup
	@bash eval/setup_llama_cpp_bench.sh

models: setup
	$(PY) -m assistant prepare-models

index: setup
	$(PY) -m assistant index --notes $(NOTES) --index $(INDEX)

run: models index
	$(PY) app.py --notes $(NOTES) --index $(INDEX)

test: setup bench-venv
	$(PY) -m pytest -q

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(PY) -m mypy

# mypy alone (pyproject.toml [tool.mypy]: corpus, index and the answering path).
typecheck: setup
	$(PY) -m mypy

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

bench: setup
	$(PY) -m eval.bench.retrieval --out docs/results/retrieval.json
	$(PY) -m eval.bench.scale --out docs/results/scale.json
