"""Answer metrics against hand-computed cases, and the eval loop with a scripted model."""

from __future__ import annotations

import pytest

from assistant.answer import Answer, Assistant, AssistantConfig, SentenceCheck, Timings
from corpus.errors import AssistantError
from corpus.questions import Question
from eval.answers import Scored, limit_questions, run_answer_eval, summarize
from eval.metrics import exact_match, normalize_answer, rouge_l, token_f1
from index.store import NotesIndex, build_index
from tests.conftest import DEV_SET
from tests.fakes import (
    OverlapChecker,
    OverlapSelector,
    ScriptedGenerator,
    open_policy,
    writes_every_form,
)


@pytest.mark.parametrize(
    "text, normalized",
    [
        ("¿El MLM enmascara las palabras? [1]", "mlm enmascara palabras"),
        ("Una   red «neuronal».", "red neuronal"),
        ("Atención [1, 2].", "atención"),
    ],
)
def test_normalize_answer(text, normalized):
    assert normalize_answer(text) == normalized


@pytest.mark.parametrize(
    "prediction, reference, f1",
    [
        ("la atención pondera los tokens", "atención pondera tokens", 1.0),
        ("atención pondera", "atención pondera tokens", 0.8),  # P=1, R=2/3
        ("nada que ver", "atención pondera tokens", 0.0),
        ("", "", 1.0),
    ],
)
def test_token_f1(prediction, reference, f1):
    assert token_f1(prediction, reference) == pytest.approx(f1)


def test_exact_match_and_rouge():
    assert exact_match("El MLM.", "mlm") == 1.0 and exact_match("MLM y BERT", "mlm") == 0.0
    assert rouge_l("atención pondera", "la atención pondera tokens") == pytest.approx(0.8)


def _answer(text, abstained=False, sentences=(), first=100.0, total=300.0):
    return Answer(
        "q",
        text,
        abstained,
        [],
        list(sentences),
        "zero-shot",
        "fake",
        None,
        Timings(1, first, total, 3),
    )


def test_summary_matches_a_hand_computed_case():
    good = SentenceCheck("a", [1], 0.9, 0.9, True, [], [0.9])
    half = SentenceCheck("b", [1, 2], 0.8, 0.8, True, [], [0.8, 0.1])
    bare = SentenceCheck("c", [], 0.0, 0.2, False, [], [])
    results = [
        Scored(
            Question("1", "q", answers=["atención pondera tokens"]),
            _answer("atención pondera", sentences=[good, bare]),
        ),
        Scored(Question("2", "q", answers=["mlm"]), _answer("MLM", sentences=[half])),
        Scored(Question("3", "q", answers=["x"]), _answer("No encuentro esto en tus notas.", True)),
        Scored(
            Question("u1", "q", answerable=False), _answer("No encuentro esto en tus notas.", True)
        ),
        Scored(
            Question("u2", "q", answerable=False), _answer("inventado", sentences=[bare], total=500)
        ),
    ]
    summary = summarize(results, lambda score: score >= 0.5)
    assert summary["n"] == 3
    assert summary["token_f1"] == round((0.8 + 1.0 + 0.0) / 3, 4)
    assert summary["exact_match"] == round(1 / 3, 4)
    # per answer: [good, bare] -> recall 1/2, precision 1/1; [half] -> 1, 1/2; [bare] -> 0, 0
    assert summary["citation_recall"] == round((0.5 + 1 + 0) / 3, 4)
    assert summary["citation_precision"] == round((1 + 0.5 + 0) / 3, 4)
    assert summary["supported_rate"] == round(2 / 4, 4)
    assert summary["abstain_unanswerable"] == 0.5
    assert summary["abstain_answerable"] == round(1 / 3, 4)
    assert summary["total_ms_p50"] == 300.0


def test_limit_keeps_both_kinds():
    rows = [Question(f"q{i}", "q") for i in range(8)] + [Question("u", "q", answerable=False)] * 2
    chosen = limit_questions(rows, 4)
    assert len(chosen) == 4 and sum(not q.answerable for q in chosen) == 1
    assert limit_questions(rows, None) == rows


def test_eval_loop_with_a_scripted_model(notes_copy, tmp_path, fake_embedder, fake_config):
    build_index(notes_copy, tmp_path / "index", index_config=fake_config)
    index = NotesIndex.load(tmp_path / "index")
    generator = ScriptedGenerator("No encuentro esto en tus notas.")
    # Every row reaches the model: no retrieval-side abstention at all.
    config = AssistantConfig(
        evidence=writes_every_form(), abstention=open_policy(abstain_on_unknown_names=False)
    )
    assistant = Assistant(index, generator, OverlapChecker(), config, selector=OverlapSelector())
    log = tmp_path / "log.jsonl"
    summary = run_answer_eval(
        str(notes_copy), str(DEV_SET), limit=8, assistant=assistant, log=str(log), progress=False
    )
    assert summary["abstain_answerable"] == 1.0 and summary["abstain_unanswerable"] == 1.0
    assert summary["token_f1"] == 0.0 and summary["n"] == 6
    assert len(log.read_text().splitlines()) == 8 == len(generator.prompts)
    assert summary["config"]["model"] == "fake-gen"


def test_a_replay_rescores_the_logged_drafts_without_generating(
    notes_copy, tmp_path, fake_embedder, fake_config
):
    from eval.output_cache import LoggedDrafts

    build_index(notes_copy, tmp_path / "index", index_config=fake_config)
    index = NotesIndex.load(tmp_path / "index")
    # A script that varies with the prompt: the replay must hand each prompt its own draft.
    generator = ScriptedGenerator(lambda prompt: f"Respuesta número {len(prompt) % 7} [1].")
    config = AssistantConfig(
        evidence=writes_every_form(), abstention=open_policy(abstain_on_unknown_names=False)
    )
    log = tmp_path / "first.jsonl"
    first = run_answer_eval(
        str(notes_copy),
        str(DEV_SET),
        limit=6,
        assistant=Assistant(index, generator, OverlapChecker(), config, selector=OverlapSelector()),
        log=str(log),
        progress=False,
    )
    replayed = ScriptedGenerator("never called")
    drafts = LoggedDrafts(replayed, log)
    again = run_answer_eval(
        str(notes_copy),
        str(DEV_SET),
        limit=6,
        assistant=Assistant(index, drafts, OverlapChecker(), config, selector=OverlapSelector()),
        log=str(tmp_path / "again.jsonl"),
        progress=False,
        finish=drafts.restore_timings,
    )
    assert replayed.prompts == []  # nothing generated
    for key in ("token_f1", "citation_precision", "abstain_answerable", "total_ms_p50"):
        assert again[key] == first[key], key
    # A prompt the log lacks (the inputs changed) is an error, never a fresh generation.
    with pytest.raises(AssistantError, match="registro"):
        list(drafts.stream("otro prompt", config.generation))
