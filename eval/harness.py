"""What every benchmark and experiment script shares: handing back its numbers (JSON on
stdout, the whole report written atomically to ``--out``) and running the app in a child
process to measure it from outside."""

from __future__ import annotations

import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from corpus.files import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "corpus" / "notes"
# The dev sets the tuning scripts choose on (notes folder, questions); never held-out files.
DEV_SETS = {
    # notes_dev without its held-out rows (the held-out file is a subset of it).
    "notes_train": ("corpus/notes", "eval/data/notes_dev.jsonl"),
    "ood_dev": ("eval/data/ood_notes", "eval/data/ood_dev.jsonl"),
    "squad_es_dev": ("eval/data/squad_es/dev/notes", "eval/data/squad_es/dev/questions.jsonl"),
}
# The reader bench's logs: the prompts the model was sent for a question set.
READER_LOGS = ROOT / "docs" / "results" / "reader" / "cells"


def write_result(out: Path, report: dict, indent: int = 2) -> None:
    """``report`` as JSON in ``out``, written atomically: a run stopped halfway leaves the
    previous result whole."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(out), json.dumps(report, indent=indent, ensure_ascii=False) + "\n")


def emit(report: dict, out: Path | None = None, shown: dict | None = None) -> None:
    """Print ``shown`` (default: the report) as JSON; write ``report`` to ``out``."""
    json.dump(report if shown is None else shown, sys.stdout, indent=2, ensure_ascii=False)
    print()
    if out:
        write_result(out, report)


# -- the app in a child process ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(work: Path, port: int) -> subprocess.Popen:
    shutil.copytree(NOTES, work / "notes")
    log = open(work / "app.log", "w")  # noqa: SIM115 (the process writes it until the end)
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "app.py"),
            "--port",
            str(port),
            "--notes",
            str(work / "notes"),
            "--index",
            str(work / "index"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def wait_until_up(url: str, process: subprocess.Popen, timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the app exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"the app did not answer on {url} within {timeout_s} s")


def stop_app(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if the app has not exited within a minute."""
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- chats against the app, as a browser would ----------------------------------------

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


# -- the model's real prompts --------------------------------------------------------


def logged_prompts(notes_set: str = "heldout", logs: Path = READER_LOGS) -> list[str]:
    """The prompts the reader bench sent the model for a notes question set ("dev",
    "heldout"), as its log in ``logs`` holds them: real retrieval, the default strategy."""
    log = logs / f"reader__notes_{notes_set}.log.jsonl"
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [row["answer"]["prompt"] for row in rows if row["answer"].get("prompt")]


def answer_config():
    """The assistant's own decoding settings for an answer (veto included)."""
    from assistant.abstain import AbstentionPolicy
    from assistant.generators import GenerationConfig
    from assistant.prompts import ABSTAIN

    return GenerationConfig(veto=ABSTAIN, veto_below=AbstentionPolicy().veto_below)
