"""The CLI in-process, with the fake embedder: output formats and exit codes."""

from __future__ import annotations

import json
import os

import pytest

from assistant.cli.main import main
from tests.conftest import DEV_SET


def _index_with_fake(notes, index_dir, capsys):
    from index.config import IndexConfig
    from index.store import build_index

    build_index(notes, index_dir, index_config=IndexConfig(embedder="fake-hash"))
    capsys.readouterr()


def test_search_json_lists_hits_with_the_documented_keys(
    notes_copy, tmp_path, fake_embedder, capsys
):
    index_dir = tmp_path / "index"
    _index_with_fake(notes_copy, index_dir, capsys)
    assert main(["search", "--index", str(index_dir), "--k", "3", "--json", "¿Qué es LoRA?"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3
    assert all(set(hit) == {"chunk_id", "source", "heading", "text", "score"} for hit in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert "LoRA" in hits[0]["text"]


def test_index_command_reports_what_it_did(notes_copy, tmp_path, fake_embedder, capsys):
    index_dir = tmp_path / "index"
    _index_with_fake(notes_copy, index_dir, capsys)
    (notes_copy / "teacher_forcing.md").unlink()
    assert main(["index", "--notes", str(notes_copy), "--index", str(index_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["removed"] == ["teacher_forcing.md"] and report["embedded"] == 0


def test_eval_retrieval_prints_the_metrics(notes_copy, tmp_path, fake_embedder, capsys):
    index_dir = tmp_path / "index"
    _index_with_fake(notes_copy, index_dir, capsys)
    argv = [
        "eval",
        "retrieval",
        "--notes",
        str(notes_copy),
        "--questions",
        str(DEV_SET),
        "--index",
        str(index_dir),
        "--k",
        "5",
        "--json",
    ]
    assert main(argv) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"n", "recall@1", "recall@3", "recall@5", "mrr@10", "ndcg@10"} <= set(metrics)
    assert metrics["n"] >= 60
    assert 0 <= metrics["recall@1"] <= metrics["recall@3"] <= metrics["recall@5"] <= 1
    assert metrics["config"]["index_config"]["embedder"] == "fake-hash"


def test_bad_k_is_rejected(capsys):
    assert main(["search", "--index", "x", "--k", "0", "hola"]) == 2
    assert "--k" in capsys.readouterr().err


def _abstention(draft: str, remarks: list[str]):
    from assistant.answer import Answer, Timings
    from assistant.prompts import ABSTAIN

    return Answer(
        "¿q?",
        ABSTAIN,
        True,
        [],
        [],
        "zero-shot",
        "fake",
        None,
        Timings(1.0),
        draft=draft,
        remarks=remarks,
    )


@pytest.mark.parametrize(
    "draft, remarks, note_lines",
    [
        # The selector found no answer: said once, as a note.
        ("", ["ninguna frase de los pasajes parece responder"], 1),
        # The model abstained by itself, with more words: nothing to add.
        ("No encuentro esto en tus notas. Quizá sea otra cosa.", [], 0),
        # Another remark stays a note of its own.
        ("", ["ninguna frase de los pasajes parece responder", "la pregunta se recortó"], 2),
    ],
)
def test_an_abstention_says_why_once_in_the_terminal(capsys, draft, remarks, note_lines):
    from assistant.cli.main import _print_answer_tail

    _print_answer_tail(_abstention(draft, remarks))
    out = capsys.readouterr().out
    assert out.count("nota:") == note_lines and out.count("ninguna") == min(note_lines, 1)
    assert "En tus notas:" not in out  # an abstention rests on no evidence


class _Revising:
    """An assistant whose checked answer differs from the draft it streamed."""

    def __init__(self, draft: str, final: str) -> None:
        from types import SimpleNamespace

        self.draft = draft
        self.answer = SimpleNamespace(abstained=False, answer=final, draft=draft)

    def stream(self, question, history=()):
        words = self.draft.split(" ")
        yield from [words[0], *(f" {word}" for word in words[1:])]
        yield self.answer


@pytest.mark.parametrize("tty", [False, True])
def test_the_terminal_prints_one_answer(monkeypatch, capsys, tty):
    from assistant.cli import main as cli

    monkeypatch.setattr("sys.stdout.isatty", lambda: tty)
    monkeypatch.setattr(cli, "_print_answer_tail", lambda answer: None)
    monkeypatch.setattr(cli, "_print_notice", lambda assistant: None)
    cli._stream_answer(_Revising("Borrador sin citas", "La respuesta revisada [1]."), "q")
    out = capsys.readouterr().out
    assert out.count("La respuesta revisada [1].") == 1 and "Respuesta revisada:" not in out
    if tty:  # streamed, then erased in place and redrawn as the checked answer
        assert out.startswith("Borrador sin citas\r\x1b[J")
    else:  # piped: the checked answer alone
        assert out == "La respuesta revisada [1].\n"


def test_library_progress_bars_and_warnings_stay_out_unless_verbose(monkeypatch):
    import warnings

    from assistant.cli import main as cli

    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.delenv("TRANSFORMERS_VERBOSITY", raising=False)  # restored after
    with warnings.catch_warnings():
        cli.quiet_libraries()
        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")  # what a library's warn() meets by default
            cli.quiet_libraries()
            warnings.warn("is deprecated", FutureWarning, stacklevel=1)
        assert caught == []
    parser = cli.build_parser()
    cli._add_verbose(parser)
    assert parser.parse_args(["ask", "--verbose", "hola"]).verbose
    assert not parser.parse_args(["notebooks", "list"]).verbose
