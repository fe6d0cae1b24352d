#!/usr/bin/env bash
# Creates the benchmark-only venv with llama-cpp-python, the reference that
# eval/bench/generation.py compares our transformers backend against.
#
#     bash eval/setup_llama_cpp_bench.sh        # ~5 min: compiles llama.cpp from source
#
# Kept apart from .venv on purpose: the assistant never needs llama.cpp at run time, and
# requirements.txt must not pull a C++ build into every install. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${BENCH_VENV:-.cache/bench-venv}
VERSION=0.3.36
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$VERSION')" 2>/dev/null; then
  # Native CPU flags (AVX2/AVX512 as available) are what llama.cpp uses by default:
  # the comparison is against llama.cpp at its best on this machine. The multimodal
  # library (llava/mtmd) is not built: nothing here serves images, the server loads it
  # only for a multimodal chat format, and skipping it took the build from 715 s to 614 s
  # (one build each, on 2 cores with one other job beside it; tests/test_openai_real.py
  # passes on it).
  CMAKE_ARGS="-DLLAVA_BUILD=OFF ${CMAKE_ARGS:-}" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    "$VENV/bin/pip" install --quiet "llama-cpp-python[server]==$VERSION"
fi
"$VENV/bin/python" -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__, 'en', '$VENV')"
