"""Chat latency while an experiment runs from the app, and how fast cancel stops it.

    python -m eval.bench.chat_during_experiment [--chats 4] [--limit 10]
                                          [--out docs/results/chat_during_experiment.json]

Starts app.py over a copy of the default notes (eval/bench/app_load.py's way), loads the
models with one question, asks ``--chats`` questions once to warm the caches (the support
checker keeps what it embedded), then asks the same questions, one at a time, three
times: alone (the baseline), while an experiment launched through the app's API runs
(zero-shot x gemma-270m over the first ``--limit`` dev questions, in the worker's child
process, eval/experiment/worker.py), and alone again after cancelling it (how much the
machine's other load moves the baseline). Each time it records the seconds a chat took;
for the cancel, how long until the worker's process was gone. The questions are the dev
set's last answerable ones, none of them one the experiment answers. The app uses the
cache's models and embeddings, as bench_app_load does; its deck goes to the temporary
folder and the run's folder (in the cache's ``experiments/``) is deleted afterwards.

A benchmark, not a test: it prints numbers and writes JSON; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from corpus.paths import default_cache_dir
from corpus.questions import load_questions
from eval.harness import (
    SETTING_NAMES,
    SETTINGS,
    WARMUP_QUESTION,
    emit,
    free_port,
    start_app,
    stop_app,
    wait_until_up,
)

ROOT = Path(__file__).resolve().parents[2]
GRID = (["zero-shot"], ["gemma-270m"])  # the run's strategies and models
DEV_SET = ROOT / "eval" / "data" / "notes_dev.jsonl"
WORKER = "eval.experiment.worker"


def chat_seconds(url: str, question: str) -> float:
    """One question in a fresh session, start to answer."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    began = time.perf_counter()
    client.predict(question, *SETTINGS, api_name="/ask")
    return round(time.perf_counter() - began, 2)


def worker_processes(app: subprocess.Popen) -> list[psutil.Process]:
    """The app's experiment children (their command line names the worker module)."""
    found = []
    for child in psutil.Process(app.pid).children(recursive=True):
        try:
            if WORKER in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def answers_logged(run: Path) -> int:
    return sum(
        len(log.read_text(encoding="utf-8").splitlines()) for log in run.glob("logs/*.jsonl")
    )


def summary(seconds: list[float]) -> dict:
    return {
        "seconds": seconds,
        "median": round(statistics.median(seconds), 2),
        "max": max(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=6)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "results" / "chat_during_experiment.json"
    )
    args = parser.parse_args()
    from gradio_client import Client

    answerable = [q.question for q in load_questions(DEV_SET) if q.answerable]
    questions = answerable[-args.chats :]
    runs = default_cache_dir() / "experiments"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    with tempfile.TemporaryDirectory(prefix="chat-experiment-") as folder:
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        os.environ["STUDY_ASSISTANT_DECK"] = str(Path(folder) / "deck.sqlite")  # not the cache's
        app = start_app(Path(folder), port)
        try:
            wait_until_up(url, app)
            chat_seconds(url, WARMUP_QUESTION)  # loads the models
            for question in questions:  # warms the checker's cache: every pass alike
                chat_seconds(url, question)
            alone = [chat_seconds(url, q) for q in questions]

            launcher = Client(url, verbose=False)
            job = launcher.submit(*GRID, args.limit, api_name="/experiment")
            deadline = time.monotonic() + 900
            while not (new := set(runs.iterdir()) - before if runs.is_dir() else set()):
                if job.done() or time.monotonic() > deadline:
                    raise SystemExit(f"the experiment never started: {job.result()}")
                time.sleep(0.5)
            (run,) = new
            while answers_logged(run) < 1:  # its model loaded, answers flowing
                if job.done() or time.monotonic() > deadline:
                    raise SystemExit(f"the experiment never answered: see {run}/worker.log")
                time.sleep(0.5)
            answered_before = answers_logged(run)
            during, running = [], []
            for question in questions:
                during.append(chat_seconds(url, question))
                running.append(not job.done() and bool(worker_processes(app)))
            answered_during = answers_logged(run) - answered_before

            workers = worker_processes(app)
            began = time.perf_counter()
            status = launcher.predict(api_name="/cancel_experiment")
            gone = psutil.wait_procs(workers, timeout=60)[1] == []
            stopped_s = round(time.perf_counter() - began, 2)
            shown = job.result(timeout=120)[0]
            after = [chat_seconds(url, q) for q in questions]
        finally:
            stop_app(app)
    shutil.rmtree(run, ignore_errors=True)  # ours: the app's cache keeps no trace of it

    report = {
        "config": {
            "chats": args.chats,
            "questions": questions,
            "settings": dict(zip(SETTING_NAMES, SETTINGS)),
            "experiment": {"strategies": GRID[0], "models": GRID[1], "limit": args.limit},
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "chat_alone": summary(alone),
        "chat_during_experiment": summary(during),
        "chat_after_cancel": summary(after),
        "experiment_running_at_each_answer": running,
        "experiment_answers_during_the_chats": answered_during,
        "cancel": {
            "status": status,
            "shown": shown,
            "worker_gone": gone,
            "seconds_to_stop": stopped_s,
        },
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
