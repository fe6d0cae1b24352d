"""eval/bench/soak.py without the app: its options are refused before anything starts, its
memory readers agree with each other, and a reply is judged by what the chat shows."""

from __future__ import annotations

import html
import os
import sys

import pytest

from eval.bench import soak as bench_soak
from eval.bench.soak import parse_args, peak_mb, reply_problem, rss_mb, status_mb
from tests.conftest import DEV_SET, ROOT

STATUS = """Name:\tpython
VmPeak:\t 1200000 kB
VmHWM:\t  524288 kB
VmRSS:\t  262144 kB
Threads:\t12
"""


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--questions", "0"], "--questions debe ser al menos 1, no 0"),
        (["--questions", "-3"], "--questions debe ser al menos 1, no -3"),
        (["--concurrent", "0"], "--concurrent debe estar entre 1 y 8"),
        (["--concurrent", "9"], "--concurrent debe estar entre 1 y 8"),
        (["--rounds", "0"], "--rounds debe ser al menos 1, no 0"),
        (["--questions", "dos"], "invalid int value: 'dos'"),
        (["--out", str(DEV_SET)], "escribiría sobre una entrada (preguntas"),
        # the soak bench's default notes (the repository's own): refused before any read
        (
            ["--out", str(ROOT / "corpus" / "notes" / "soak.json")],
            "escribiría sobre una entrada (notas",
        ),
    ],
)
def test_a_bad_option_is_refused_with_its_name(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_an_out_that_cannot_be_a_file_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--out", str(tmp_path)])
    assert "es una carpeta" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SystemExit):
        parse_args(["--out", str(blocker / "soak.json")])
    assert f"no se puede escribir en {blocker}" in capsys.readouterr().err


def test_the_defaults_and_a_valid_out_in_a_new_folder(tmp_path):
    args = parse_args([])
    assert (args.questions, args.concurrent, args.rounds) == (200, 8, 3)
    assert args.out == bench_soak.ROOT / "docs" / "results" / "soak.json"
    out = tmp_path / "new" / "soak.json"
    args = parse_args(["--questions", "4", "--concurrent", "2", "--rounds", "1", "--out", str(out)])
    assert (args.questions, args.concurrent, args.rounds, args.out) == (4, 2, 1, out)
    assert not out.parent.exists()  # checking writes nothing


def test_main_refuses_bad_options_before_it_starts_the_app(monkeypatch):
    def start_app(*_):
        raise AssertionError("the app was started")

    monkeypatch.setattr(bench_soak, "start_app", start_app)
    with pytest.raises(SystemExit) as exit_:
        bench_soak.main(["--rounds", "0"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("name, mb", [("VmRSS", 256.0), ("VmHWM", 512.0), ("VmPeak", 1171.875)])
def test_a_status_line_is_read_in_mb(name, mb):
    assert status_mb(STATUS, name) == mb


@pytest.mark.parametrize(
    "status", ["Name:\tpython\n", "VmRSS:\t  262144 MB\n", "VmRSS:\n", "VmRSSX:\t 1 kB\n"]
)
def test_a_status_without_a_usable_line_is_an_error(status):
    with pytest.raises(ValueError):
        status_mb(status, "VmRSS")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_psutil_and_proc_read_the_same_memory(monkeypatch):
    pytest.importorskip("psutil")
    ballast = bytearray(64 * 2**20)  # resident once written: both readings must see it
    ballast[::4096] = b"x" * len(ballast[::4096])
    with_psutil = rss_mb(os.getpid())
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil now raises ImportError
    from_proc = rss_mb(os.getpid())
    assert with_psutil > 64 and from_proc > 64
    assert abs(with_psutil - from_proc) < 8  # what the interpreter allocated in between
    assert peak_mb(os.getpid()) >= from_proc - 1
    del ballast


def test_peak_is_none_for_a_process_that_does_not_exist():
    assert peak_mb(2**31 - 1) is None  # beyond any pid_max


def user(text: str) -> dict:
    return {"role": "user", "content": html.escape(text)}


def bot(text: str) -> dict:
    return {"role": "assistant", "content": text}


ANSWER = 'LoRA añade matrices de bajo rango [1].\n\n<small class="timings">total 3.1 s</small>'
ABSTENTION = (
    '<strong class="abstained">No encuentro esto en tus notas.</strong>\n\n'
    '<small class="timings">total 1.0 s</small>'
)
ERROR = '<span class="unsupported">⚠ El índice no está construido</span>'


@pytest.mark.parametrize(
    "chat, question, problem",
    [
        ([user("¿Qué es LoRA?"), bot(ANSWER)], "¿Qué es LoRA?", None),
        ([user("¿Qué es <b>?"), bot(ABSTENTION)], "¿Qué es <b>?", None),
        (
            [user("¿Qué es LoRA?"), bot(ANSWER), user("¿Y sus ventajas?"), bot(ANSWER)],
            "¿Y sus ventajas?",
            None,
        ),
        (
            [{"role": "user", "content": [{"type": "text", "text": "¿Qué es LoRA?"}]}, bot(ANSWER)],
            "¿Qué es LoRA?",
            None,
        ),
        ([user("¿Qué es LoRA?"), bot(ERROR)], "¿Qué es LoRA?", "not a checked answer"),
        ([user("¿Qué es BERT?"), bot(ANSWER)], "¿Qué es LoRA?", "another question"),
        ([user("¿Qué es LoRA?")], "¿Qué es LoRA?", "does not end with a question"),
        ([], "¿Qué es LoRA?", "does not end with a question"),
        ([bot(ANSWER), bot(ANSWER)], "¿Qué es LoRA?", "does not end with a question"),
    ],
)
def test_a_reply_is_a_checked_answer_to_the_question_or_a_problem(chat, question, problem):
    found = reply_problem(chat, question)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
