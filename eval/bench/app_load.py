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
import os
import platform
import tempfile
import time
from pathlib import Path

from eval.harness import (
    FOLLOW_UP,
    NOTES,
    ROOT,
    SETTING_NAMES,
    SETTINGS,
    TOPICS,
    WARMUP_QUESTION,
    chats_at_once,
    emit,
    free_port,
    run_chat,
    spread,
    start_app,
    stop_app,
    wait_until_up,
)


# The app's default settings (app.control_values(ChatSettings())), in the order /ask takes them.
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
    emit(report, args.out)
    if not (report["all_answered"] and report["none_leaked"]):
        raise SystemExit("some chat was not answered or saw another chat's history")


if __name__ == "__main__":
    main()
