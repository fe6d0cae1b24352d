"""What every benchmark and experiment script shares: handing back its numbers (JSON on
stdout, the whole report written atomically to ``--out``) and running the app in a child
process to measure it from outside."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from corpus.files import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "corpus" / "notes"


def write_result(out: Path, report: dict, indent: int = 2) -> None:
    """``report`` as JSON in ``out``, written atomically: a run stopped halfway leaves the
    previous result whole."""
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
