"""Timing of a stream of generated tokens, shared by both sides of bench_generation.

Standard library only: eval/bench/llama_cpp_worker.py imports it inside the benchmark venv,
which has nothing of the project's dependencies.
"""

from __future__ import annotations

import time
from collections.abc import Iterable


def time_stream(tokens: Iterable[int]) -> dict:
    """Consume ``tokens`` (a lazy generator: prefill happens on the first ``next``) and
    return seconds to the first token, of decoding after it and in all, and the tokens."""
    began = time.perf_counter()
    received, first = [], None
    for token in tokens:
        if first is None:
            first = time.perf_counter()
        received.append(token)
    done = time.perf_counter()
    first = done if first is None else first
    return {
        "ttft_s": first - began,
        "decode_s": done - first,
        "total_s": done - began,
        "tokens": received,
    }
