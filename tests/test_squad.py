"""The SQuAD-es converter on a small inline sample: split by article, unanswerable
questions become abstention examples, evidence preserved, answers cite the gold passage."""

import json
import re

import pytest

from assistant.prompts import ABSTAIN
from assistant.training.lora.squad import (
    SquadExampleConfig,
    article_note,
    load_squad,
    question_rows,
    split_articles,
    squad_examples,
    write_notes,
)
from corpus.errors import QuestionsFileError
from corpus.questions import is_relevant
from index.store import NotesIndex, build_index

PARAGRAPHS = {
    "Normandos": [
        "Los normandos fueron el pueblo que en los siglos X y XI dio su nombre a Normandía, "
        "una región de Francia. Eran descendientes de invasores nórdicos de Dinamarca.",
        "El líder Rollo juró lealtad al rey Carlos III. Sus descendientes se fusionaron con "
        "las poblaciones francas y adoptaron la lengua romance.",
    ],
    "Oxígeno": [
        "El oxígeno es un elemento químico de número atómico 8. Es el tercer elemento más "
        "abundante del universo después del hidrógeno y el helio.",
        "Joseph Priestley descubrió el oxígeno en 1774 calentando óxido de mercurio.",
    ],
    "Varsovia": [
        "Varsovia es la capital de Polonia y su ciudad más grande. Está a orillas del río Vístula.",
        "La ciudad fue reconstruida tras la Segunda Guerra Mundial con ayuda de pinturas antiguas.",
    ],
    "Rin": [
        "El Rin nace en los Alpes suizos y desemboca en el mar del Norte, en los Países Bajos.",
        "Es una de las vías navegables más transitadas de Europa desde la época romana.",
    ],
}


def _qa(qid, question, context, answer=None, impossible=False, start=None):
    if impossible:
        return {"id": qid, "question": question, "answers": [], "is_impossible": True}
    begin = context.find(answer) if start is None else start
    return {
        "id": qid,
        "question": question,
        "is_impossible": False,
        "answers": [{"text": answer, "answer_start": begin}] * 2,
    }


def squad_payload() -> dict:
    data = []
    for title, paragraphs in PARAGRAPHS.items():
        entries = []
        for p, context in enumerate(paragraphs):
            word = re.findall(r"\w{6,}", context)[1]
            qas = [
                _qa(f"{title}-{p}-a", f"¿Qué dice el texto sobre {word}?", context, word),
                _qa(
                    f"{title}-{p}-u",
                    f"¿Cuántos habitantes tenía {title} en 1500?",
                    context,
                    impossible=True,
                ),
            ]
            entries.append({"context": context, "qas": qas})
        data.append({"title": title, "paragraphs": entries})
    # An answer whose offset is wrong but whose text is in the paragraph is re-anchored;
    # one whose text is nowhere in it is dropped.
    first = data[0]["paragraphs"][0]
    first["qas"].append(
        _qa("moved", "¿De qué país es región Normandía?", first["context"], "Francia", start=0)
    )
    first["qas"].append(
        {
            "id": "lost",
            "question": "¿Qué idioma?",
            "is_impossible": False,
            "answers": [{"text": "noruego antiguo", "answer_start": 3}],
        }
    )
    return {"version": "v2.0", "data": data}


@pytest.fixture
def squad_file(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(squad_payload(), ensure_ascii=False), encoding="utf-8")
    return path


def test_load_keeps_aligned_answers_and_drops_the_rest(squad_file):
    articles, report = load_squad(squad_file)
    assert report.articles == 4 and report.dropped_misaligned == 1
    moved = next(q for a in articles for p in a.paragraphs for q in p.questions if q.id == "moved")
    context = articles[0].paragraphs[0].context
    assert context[moved.start : moved.start + len("Francia")] == "Francia"
    assert report.impossible == 8


@pytest.mark.parametrize("bad", ["{}", "not json", '{"data": 3}'])
def test_a_file_that_is_not_squad_is_a_clear_error(tmp_path, bad):
    path = tmp_path / "bad.json"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(QuestionsFileError):
        load_squad(path)


def test_split_is_by_article_and_reproducible(squad_file):
    articles, _ = load_squad(squad_file)
    split = split_articles(articles, seed=3, dev=1, test=1)
    sides = [split.train, split.dev, split.test]
    assert sorted(t for side in sides for t in side) == sorted(a.title for a in articles)
    assert all(not set(a) & set(b) for a in sides for b in sides if a is not b)
    assert split_articles(articles, seed=3, dev=1, test=1) == split
    with pytest.raises(QuestionsFileError):
        split_articles(articles, dev=2, test=2)


def test_question_rows_keep_the_evidence_and_mark_unanswerables(squad_file):
    articles, _ = load_squad(squad_file)
    rows = question_rows(articles)
    notes = "".join(article_note(a)[0] for a in articles)
    for row in rows:
        if row["answerable"]:
            (evidence,) = row["evidence"]
            assert any(answer in evidence for answer in row["answers"])
            assert evidence in notes  # a whole sentence of the note, verbatim
        else:
            assert row["answers"] == [] and row["evidence"] == []


def test_examples_cite_the_gold_passage_and_abstain_on_unanswerables(
    squad_file, tmp_path, fake_embedder, fake_config
):
    articles, _ = load_squad(squad_file)
    notes = tmp_path / "notes"
    write_notes(articles, notes)
    build_index(notes, tmp_path / "index", index_config=fake_config)
    index = NotesIndex.load(tmp_path / "index")
    rows, report = squad_examples(
        index, articles, SquadExampleConfig(answers=4, abstentions=3, cot=2, passages=3)
    )
    assert (report.answer_examples, report.abstain_examples, report.cot_examples) == (4, 3, 2)
    questions = {q.id: q for a in articles for p in a.paragraphs for q in p.questions}
    for row in rows:
        assert row["prompt"].rstrip().endswith(("Respuesta:", "Hechos:"))
        if row["kind"] == "squad-abstain":
            assert row["completion"] == " " + ABSTAIN and row["cited"] == 0
            continue
        n = row["cited"]
        assert row["completion"].rstrip().endswith(f"[{n}]")
        passages = re.split(r"^\[\d+\] ", row["prompt"].split("Pasajes:", 1)[1], flags=re.M)[1:]
        gold = passages[n - 1]
        assert questions[row["question_id"]].answers[0] in gold
        if row["kind"] == "squad-cot":
            fact, answer = row["completion"].strip().split("\nRespuesta: ")
            assert fact.startswith("- ") and f"[{n}]" in fact
            assert is_relevant(gold, [fact[2:].rsplit(" [", 1)[0]])  # the quote is the passage's


def test_notes_cot_rows_quote_the_evidence_sentence_of_the_right_passage():
    from assistant.training.lora.config import LoraTrainConfig
    from assistant.training.lora.data import notes_rows
    from tests.conftest import DEV_SET, NOTES

    rows, split = notes_rows(NOTES, DEV_SET, LoraTrainConfig(), cot=12)
    cot = [r for r in rows if r["kind"] == "cot"]
    assert len(cot) == 12
    for row in cot:
        assert row["prompt"].endswith("Hechos:") and row["section"] in split.train_sections
        fact, answer = row["completion"].strip().split("\nRespuesta: ")
        n = row["cited"]
        assert fact.startswith("- ") and fact.endswith(f"[{n}]") and answer.endswith(f"[{n}]")
        passages = re.split(r"^\[\d+\] ", row["prompt"].split("Pasajes:", 1)[1], flags=re.M)[1:]
        quote = fact[2:].rsplit(" [", 1)[0]
        assert is_relevant(passages[n - 1], [quote])
