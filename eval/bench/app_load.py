"""Eight students at once: concurrent two-turn chats against a running app.

    python -m eval.bench.app_load [--chats 8] [--out docs/results/app_load.json]

Starts app.py in a subprocess on a free port over a copy of the default notes, loads the
models with one warm-up question, then runs N chats at once through gradio_client, each
its own session: a question on its own topic, then a follow-up ("¿Y cuáles son sus
ventajas?") that only makes sense with that chat's history. Checks that every turn got an
answer and that no chat saw another's history (its chat shows only its own questions, and
the follow-up was searched with its own first question); reports the seconds each chat
took. The app serializes generation (one shared model, two cores), so the chats queue:
the spread of the times is the queue, not the model.

A benchmark, not a test: it prints numbers and writes JSON; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path

from eval.harness import NOTES, ROOT, free_port, start_app, stop_app, wait_until_up, write_result

# The app's default settings (app.control_values(ChatSettings())), in the order /ask takes them.
SETTINGS = ("gemma-270m", True, "zero-shot", 3, 160, 0.0)
SETTING_NAMES = ("model", "adapter", "strategy", "passages", "max_new_tokens", "temperature")
TOPICS = (
    "¿Qué es LoRA?",
    "¿Qué es Teacher Forcing?",
    "¿Qué es Self-Attention?",
    "¿Qué son los adapters?",
    "¿Qué es un modelo de lenguaje n-gram?",
    "¿Qué es la tokenización?",
    "¿Qué es ELMo y cuál es su arquitectura?",
    "¿Qué son los Positional Embeddings?",
)
WARMUP_QUESTION = "¿Qué es el fine-tuning?"  # on no chat's topic
FOLLOW_UP = "¿Y cuáles son sus ventajas?"
# One turn's wait, its place in the queue included: with 8 chats of 2 turns on busy cores
# the last turn waits for 15 answers ahead of it. A hung app fails the turn, not the run.
TURN_TIMEOUT_S = 1800
_QUERY = re.compile(r"Búsqueda: «(.*?)»", re.DOTALL)


def message_text(message: dict) -> str:
    content = message["content"]
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def run_chat(url: str, first: str, others: list[str]) -> dict:
    """One session, two turns; what it took and what it saw."""
    from gradio_client import Client

    client = Client(url, verbose=False)  # a Client is one session
    began = time.perf_counter()
    turn_seconds, chat = [], []
    for question in (first, FOLLOW_UP):
        start = time.perf_counter()
        job = client.submit(question, *SETTINGS, api_name="/ask")
        _, chat, _ = job.result(timeout=TURN_TIMEOUT_S)
        turn_seconds.append(round(time.perf_counter() - start, 2))
    seconds = round(time.perf_counter() - began, 2)

    users = [message_text(m) for m in chat if m["role"] == "user"]
    replies = [message_text(m) for m in chat if m["role"] == "assistant"]
    query = _QUERY.search(replies[-1]) if replies else None
    follow_up_query = query.group(1) if query else ""
    return {
        "first_question": first,
        "seconds": seconds,
        "turn_seconds": turn_seconds,
        "answered": len(replies) == 2 and all("timings" in reply for reply in replies),
        "abstained": [("abstained" in reply) for reply in replies],
        # Its own history and nobody else's: the chat holds exactly its two questions, and
        # the follow-up was searched together with its own first question.
        "isolated": users == [first, FOLLOW_UP]
        and follow_up_query.startswith(first)
        and not any(other in follow_up_query for other in others),
        "follow_up_query": follow_up_query,
    }


def spread(seconds: list[float]) -> dict | None:
    """min, median, max of some durations; None when there are none."""
    if not seconds:
        return None
    return {
        "min": min(seconds),
        "median": round(statistics.median(seconds), 2),
        "max": max(seconds),
    }


def chats_at_once(url: str, topics: list[str]) -> tuple[list[dict], float]:
    """One run_chat per topic, all at once: (their results in topic order, wall seconds).
    A chat that raised is a result too: its error, not answered, not isolated."""
    results: list[dict] = [{} for _ in topics]

    def worker(i: int) -> None:
        others = [t for t in topics if t != topics[i]]
        try:
            results[i] = run_chat(url, topics[i], others)
        except Exception as err:  # noqa: BLE001 (a failed chat is a result, not a crash)
            results[i] = {
                "first_question": topics[i],
                "error": f"{type(err).__name__}: {err}",
                "answered": False,
                "isolated": False,
            }

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(topics))]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "app_load.json")
    args = parser.parse_args()
    topics = [TOPICS[i % len(TOPICS)] for i in range(args.chats)]
    if len(set(topics)) < len(topics):
        raise SystemExit(f"at most {len(TOPICS)} chats: each needs a topic of its own")

    with tempfile.TemporaryDirectory(prefix="app-load-") as folder:
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        began = time.perf_counter()
        process = start_app(Path(folder), port)
        try:
            wait_until_up(url, process)
            startup_s = time.perf_counter() - began
            warmup = run_chat(url, WARMUP_QUESTION, [])  # loads the models
            results, wall_s = chats_at_once(url, topics)
        finally:
            stop_app(process)

    seconds = [chat["seconds"] for chat in results if "seconds" in chat]
    report = {
        "config": {
            "chats": args.chats,
            "turns_per_chat": 2,
            "settings": dict(zip(SETTING_NAMES, SETTINGS)),
            "notes": str(NOTES.relative_to(ROOT)),
            "follow_up": FOLLOW_UP,
            "generation_concurrency": 1,
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
        },
        "startup_seconds": round(startup_s, 1),
        "warmup_chat_seconds": warmup["seconds"],
        "wall_seconds": round(wall_s, 1),
        "all_answered": all(chat["answered"] for chat in results),
        "none_leaked": all(chat["isolated"] for chat in results),
        "chat_seconds": spread(seconds),  # of the chats that finished
        "chats": results,
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, report)
    if not (report["all_answered"] and report["none_leaked"]):
        raise SystemExit("some chat was not answered or saw another chat's history")


if __name__ == "__main__":
    main()
