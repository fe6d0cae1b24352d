"""Soak: one app, hundreds of questions; does it keep answering, and does its memory level off?

    python -m eval.bench.soak [--questions 200] [--concurrent 8] [--rounds 3] \
        [--out docs/results/soak.json]

Starts app.py as eval/bench/app_load.py does (a subprocess on a free port, a copy of the
default notes, the real models), loads the models with one warm-up chat, then runs
--rounds rounds of:

- --questions questions one after another in one session, the dev set's questions in turn
  (eval/data/notes_dev.jsonl, cycling, on from where the last round stopped), with a new
  conversation every CHAT_LENGTH questions as a student would start one;
- --concurrent two-turn chats at once (bench_app_load's chats: a topic, then a follow-up
  that must be searched with that chat's own history).

The app process's resident memory (psutil, else /proc/PID/status) is read after the
warm-up, every RSS_EVERY questions, at the end of each round's questions and after each
round's chats. Every error is recorded: an exception from the client (a gr.Error, a lost
connection, a timeout) or a reply that is not a checked answer to its question. Memory
that keeps growing from round to round points to a leak; a step in the first round that
then stays flat is more likely caches and the allocator's pools filling up. The first
reading comes after the warm-up; "peak_mb" (VmHWM) includes the models' load.

A benchmark, not a test: it prints JSON, writes it to --out, asserts nothing about time;
it exits non-zero when an error was recorded.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from corpus.errors import AssistantError
from corpus.files import atomic_write_text, check_output_path
from corpus.questions import load_questions
from eval.harness import (
    NOTES,
    ROOT,
    SETTING_NAMES,
    SETTINGS,
    TOPICS,
    TURN_TIMEOUT_S,
    WARMUP_QUESTION,
    chats_at_once,
    free_port,
    message_text,
    run_chat,
    spread,
    start_app,
    stop_app,
    wait_until_up,
)

DEV_SET = ROOT / "eval" / "data" / "notes_dev.jsonl"
RSS_EVERY = 20  # questions between two readings of the app's memory
CHAT_LENGTH = 20  # questions in one conversation before "Nueva conversación"
MB = 2**20  # the report's MB are MiB
ERROR_CHARS = 500  # an error's message is kept up to this long
# Failures in a row that end a round's questions: a hung app would otherwise cost
# TURN_TIMEOUT_S per question.
MAX_FAILURES_IN_A_ROW = 5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options, checked: every mistake is refused here, before the app starts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200, help="questions in turn per round")
    parser.add_argument("--concurrent", type=int, default=8, help="chats at once per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "soak.json")
    args = parser.parse_args(argv)
    if args.questions < 1:
        parser.error(f"--questions debe ser al menos 1, no {args.questions}")
    if not 1 <= args.concurrent <= len(TOPICS):
        parser.error(
            f"--concurrent debe estar entre 1 y {len(TOPICS)} (cada chat necesita un tema "
            f"propio), no {args.concurrent}"
        )
    if args.rounds < 1:
        parser.error(f"--rounds debe ser al menos 1, no {args.rounds}")
    if args.out.is_dir():
        parser.error(f"--out {args.out} es una carpeta: da la ruta de un fichero .json")
    folder = next(p for p in args.out.absolute().parents if p.exists())
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        parser.error(f"--out {args.out}: no se puede escribir en {folder}")
    try:
        check_output_path(args.out, "--out", {"preguntas": DEV_SET, "notas": NOTES})
    except AssistantError as err:
        parser.error(str(err))
    return args


def status_mb(status: str, name: str) -> float:
    """A memory line of /proc/PID/status ("VmRSS:   123456 kB") in MB."""
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            amount, unit = value.split()
            if unit != "kB":
                raise ValueError(f"{name} in {unit}, not kB: {line!r}")
            return int(amount) * 1024 / MB
    raise ValueError(f"no {name} line in the process status")


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid`` in MB: psutil's, else /proc's VmRSS."""
    try:
        import psutil
    except ImportError:
        return status_mb(Path(f"/proc/{pid}/status").read_text(), "VmRSS")
    return psutil.Process(pid).memory_info().rss / MB


def peak_mb(pid: int) -> float | None:
    """The most resident memory the process has had so far (VmHWM); None without /proc."""
    try:
        return status_mb(Path(f"/proc/{pid}/status").read_text(), "VmHWM")
    except (OSError, ValueError):
        return None


def _rss_source() -> str:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return "/proc/PID/status VmRSS"
    return "psutil memory_info().rss"


def reply_problem(chat: list[dict], question: str) -> str | None:
    """What is wrong with the chat the app returned for ``question``; None when its last
    message is a checked answer (an abstention is one) after that question."""
    if len(chat) < 2 or chat[-1].get("role") != "assistant" or chat[-2].get("role") != "user":
        return f"the chat does not end with a question and its reply: {chat[-2:]!r}"[:ERROR_CHARS]
    asked = html.unescape(message_text(chat[-2])).strip()  # the chat shows it escaped
    if asked != question:
        return f"the reply is to another question: {asked!r}"[:ERROR_CHARS]
    reply = message_text(chat[-1])
    if "timings" not in reply:  # every checked answer ends with its timings
        return f"not a checked answer: {reply}"[:ERROR_CHARS]
    return None


@dataclass
class SoakLog:
    """What the soak saw so far: memory readings and errors, with where they happened."""

    process: subprocess.Popen  # the app
    # The app is up; every reading's "seconds" count from here, the warm-up included.
    began: float = field(default_factory=time.perf_counter)
    rss: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    questions: int = 0  # asked one after another so far, every round
    chats: int = 0  # concurrent chats finished so far, every round

    def sample(self, round_: int, phase: str) -> None:
        """One reading of the app's memory; none once the app has exited."""
        if self.process.poll() is not None:
            return
        pid = self.process.pid
        self.rss.append(
            {
                "round": round_,
                "phase": phase,
                "questions": self.questions,
                "chats": self.chats,
                "seconds": round(time.perf_counter() - self.began, 1),
                "rss_mb": round(rss_mb(pid), 1),
                "peak_mb": _round(peak_mb(pid)),
            }
        )
        print(f"[soak] {self.rss[-1]}", file=sys.stderr, flush=True)

    def error(self, round_: int, phase: str, where: str, message: str) -> None:
        self.errors.append(
            {"round": round_, "phase": phase, "where": where, "error": message[:ERROR_CHARS]}
        )
        print(f"[soak] error: {self.errors[-1]}", file=sys.stderr, flush=True)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _exception(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def sequential_round(url: str, log: SoakLog, questions: list[str], count: int, round_: int) -> dict:
    """``count`` questions in turn in one session; what the round took."""
    from gradio_client import Client

    client = Client(url, verbose=False)  # one session, as one browser tab
    seconds: list[float] = []
    errors_before, questions_before = len(log.errors), log.questions
    abstained = failures_in_a_row = 0
    began = time.perf_counter()
    for asked in range(count):
        if log.process.poll() is not None:
            log.error(round_, "sequential", "app", f"the app exited with {log.process.returncode}")
            break
        if failures_in_a_row == MAX_FAILURES_IN_A_ROW:
            log.error(
                round_,
                "sequential",
                "soak",
                f"round stopped after {failures_in_a_row} failed questions in a row",
            )
            break
        number = log.questions + 1
        question = questions[log.questions % len(questions)]
        where = f"question {number}: {question}"
        problem = None
        try:
            if asked and asked % CHAT_LENGTH == 0:
                client.submit(api_name="/new_conversation").result(timeout=TURN_TIMEOUT_S)
            start = time.perf_counter()
            job = client.submit(question, *SETTINGS, api_name="/ask")
            _, chat, _ = job.result(timeout=TURN_TIMEOUT_S)
            seconds.append(round(time.perf_counter() - start, 2))
            problem = reply_problem(chat, question)
        except Exception as err:  # noqa: BLE001 (every failure is a data point of the soak)
            problem = _exception(err)
        if problem:
            log.error(round_, "sequential", where, problem)
            failures_in_a_row += 1
        else:
            failures_in_a_row = 0
            abstained += "abstained" in message_text(chat[-1])
        log.questions += 1
        if log.questions % RSS_EVERY == 0:
            log.sample(round_, "sequential")
    if not log.rss or log.rss[-1]["questions"] != log.questions:
        log.sample(round_, "sequential")  # the round's last questions, short of RSS_EVERY
    return {
        "questions": log.questions - questions_before,
        "seconds": round(time.perf_counter() - began, 1),
        "question_seconds": spread(seconds),  # of the questions the app replied to
        "abstained": abstained,
        "errors": len(log.errors) - errors_before,
    }


def concurrent_round(url: str, log: SoakLog, count: int, round_: int) -> dict:
    """``count`` two-turn chats at once, each in its own session; what they took."""
    errors_before = len(log.errors)
    if log.process.poll() is not None:
        log.error(round_, "concurrent", "app", f"the app exited with {log.process.returncode}")
        return {"chats": 0, "errors": 1}
    results, wall_s = chats_at_once(url, list(TOPICS[:count]))
    for i, chat in enumerate(results):
        where = f"chat {log.chats + i + 1}: {chat['first_question']}"
        if "error" in chat:
            log.error(round_, "concurrent", where, chat["error"])
        elif not chat["answered"]:
            log.error(round_, "concurrent", where, "a turn got no checked answer")
        elif not chat["isolated"]:
            log.error(round_, "concurrent", where, f"saw another chat: {chat['follow_up_query']!r}")
    log.chats += count
    log.sample(round_, "concurrent")
    return {
        "chats": count,
        "wall_seconds": round(wall_s, 1),
        "chat_seconds": spread([chat["seconds"] for chat in results if "seconds" in chat]),
        "errors": len(log.errors) - errors_before,
    }


def app_log_summary(log_path: Path, lines: int = 40) -> dict:
    """Tracebacks the app printed, and the end of its log when it printed any."""
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    tracebacks = text.count("Traceback (most recent call last)")
    return {"tracebacks": tracebacks, "tail": text.splitlines()[-lines:] if tracebacks else []}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    questions = [row.question for row in load_questions(DEV_SET)]

    rounds: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="soak-") as folder:
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        began = time.perf_counter()
        process = start_app(Path(folder), port)
        try:
            wait_until_up(url, process)
            startup_s = time.perf_counter() - began
            log = SoakLog(process)
            try:
                warmup_s = run_chat(url, WARMUP_QUESTION, [])["seconds"]  # loads the models
            except Exception as err:  # noqa: BLE001 (recorded; the rounds say whether it lasts)
                warmup_s = None
                log.error(0, "warmup", WARMUP_QUESTION, _exception(err))
            log.sample(0, "warmup")
            for round_ in range(1, args.rounds + 1):
                sequential = sequential_round(url, log, questions, args.questions, round_)
                concurrent = concurrent_round(url, log, args.concurrent, round_)
                rounds.append(
                    {
                        "round": round_,
                        "sequential": sequential,
                        "concurrent": concurrent,
                        "rss_mb_end": log.rss[-1]["rss_mb"] if log.rss else None,
                    }
                )
                if process.poll() is not None:
                    break
            soak_s = time.perf_counter() - log.began
            exit_code = process.poll()  # None: still serving when the soak ended
        finally:
            stop_app(process)
        app_log = app_log_summary(Path(folder) / "app.log")

    rss = [reading["rss_mb"] for reading in log.rss]
    report = {
        "config": {
            "questions_per_round": args.questions,
            "concurrent_chats_per_round": args.concurrent,
            "rounds": args.rounds,
            "rss_every_questions": RSS_EVERY,
            "questions_per_conversation": CHAT_LENGTH,
            "turns_per_concurrent_chat": 2,
            "turn_timeout_seconds": TURN_TIMEOUT_S,
            "question_file": str(DEV_SET.relative_to(ROOT)),
            "question_file_rows": len(questions),
            "notes": str(NOTES.relative_to(ROOT)),
            "settings": dict(zip(SETTING_NAMES, SETTINGS)),
            "rss_source": _rss_source(),
            "mb": "MiB (2**20 bytes)",
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
        },
        "startup_seconds": round(startup_s, 1),
        "warmup_chat_seconds": warmup_s,
        "soak_seconds": round(soak_s, 1),
        "questions_asked": log.questions,
        "chats_run": log.chats,
        "error_count": len(log.errors),
        "app_exit_code": exit_code,
        "rss_mb_summary": {
            "first": rss[0],  # after the warm-up
            "end": rss[-1],
            "max": max(rss),
            "growth": round(rss[-1] - rss[0], 1),
        }
        if rss
        else None,
        "rounds": rounds,
        "rss": log.rss,
        "errors": log.errors,
        "app_log": app_log,
    }
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, text + "\n")
    if log.errors:
        print(f"{len(log.errors)} errores durante el soak: ver {args.out}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
