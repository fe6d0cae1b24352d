"""llama.cpp side of eval/bench/generation.py; runs in the benchmark venv, not in .venv.

    .cache/bench-venv/bin/python eval/bench/llama_cpp_worker.py GGUF THREADS

Loads GGUF once, then answers JSON lines on stdin, one per line on stdout:
``{"ids": [...], "new": N}`` -> ``{"ttft_s", "decode_s", "total_s", "tokens"}``; with
``"generate": true`` through ``Llama.generate`` instead, which keeps the KV cache of the
prefix the prompt shares with the previous one (the assistant's instructions) and samples
with top_k=1: llama-cpp-python's own high-level path, measured beside the bare loop. The
prompt arrives as token ids (from our tokenizer), so both sides process the same tokens;
generation is greedy and ignores end tokens, so exactly N tokens are timed. Imports only
eval/bench/stream_timing.py from the project (standard library only): the venv has nothing but
llama-cpp-python.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from llama_cpp import Llama

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_timing import time_stream


def run(llm: Llama, ids: list[int], new: int) -> dict:
    llm.reset()

    def tokens():
        llm.eval(ids)  # prefill in n_batch chunks
        token = llm.sample(temp=0.0)  # greedy
        yield token
        for _ in range(new - 1):
            llm.eval([token])
            token = llm.sample(temp=0.0)
            yield token

    return time_stream(tokens())


def run_generate(llm: Llama, ids: list[int], new: int) -> dict:
    def tokens():
        for count, token in enumerate(
            llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0), start=1
        ):
            yield token
            if count == new:
                return

    return time_stream(tokens())


def main() -> None:
    gguf, threads = sys.argv[1], int(sys.argv[2])
    # llama.cpp's defaults otherwise (n_ubatch 512, flash attention auto): it is measured
    # as a user would run it.
    llm = Llama(
        model_path=gguf,
        n_ctx=2048,
        n_batch=1024,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    print(json.dumps({"ready": True, "n_vocab": llm.n_vocab()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        answer = run_generate if request.get("generate") else run
        print(json.dumps(answer(llm, request["ids"], request["new"])), flush=True)


if __name__ == "__main__":
    main()
