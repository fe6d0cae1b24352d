"""The extractive reader, follow-up subjects, the question's language, and the abstention
policy's three stages, on the default notes with the fake embedder and generator."""

from __future__ import annotations

import pytest

from assistant.abstain import AbstentionPolicy, RetrievalConfidence
from assistant.answer import Assistant, AssistantConfig
from assistant.conversation import Turn, question_topic, resolve_question
from assistant.generators.base import GenerationConfig
from assistant.language import detect_language
from assistant.prompts import ABSTAIN, is_abstention
from corpus.text import normalize
from index.store import NotesIndex, build_index
from tests.fakes import (
    OverlapChecker,
    OverlapSelector,
    ScriptedGenerator,
    open_policy,
    writes_every_form,
)

# The fake embedder's cosines are not e5's: every retrieval-confidence gate open.
OPEN = open_policy(min_similarity_other_language=0.0)


@pytest.fixture
def index(notes_copy, tmp_path, fake_embedder, fake_config) -> NotesIndex:
    build_index(notes_copy, tmp_path / "index", index_config=fake_config)
    return NotesIndex.load(tmp_path / "index")


def extractive(index, policy=OPEN) -> Assistant:
    return Assistant(
        index,
        None,
        OverlapChecker(),
        AssistantConfig(strategy="extractive", abstention=policy),
        OverlapSelector(),
    )


def scripted(index, script, policy=OPEN) -> tuple[Assistant, ScriptedGenerator]:
    generator = ScriptedGenerator(script)
    return Assistant(
        index,
        generator,
        OverlapChecker(),
        AssistantConfig(evidence=writes_every_form(), abstention=policy),
        OverlapSelector(),
    ), generator


# -- the extractive reader -------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "¿Qué es Teacher Forcing?",
        "¿Qué son los adapters?",
        "¿Qué ventajas tiene LoRA?",
    ],
)
def test_extractive_answers_quote_the_passage_they_cite(index, question):
    answer = extractive(index).answer(question)
    assert not answer.abstained and answer.model == "extractive" and answer.prompt == ""
    (sentence, *_) = answer.sentences
    (n,) = sentence.cited
    cited = next(c for c in answer.citations if c.n == n)
    # The quoted words are the passage's own (markup aside).
    words = normalize(sentence.text).strip(".").split(": ")[-1]
    assert words[:40] in normalize(cited.text).replace("*", "")
    assert sentence.supported


def test_extractive_needs_no_model_and_a_generating_strategy_does():
    with pytest.raises(Exception, match="necesita un modelo"):
        Assistant(None, None, OverlapChecker(), AssistantConfig(strategy="zero-shot"))


# -- follow-up questions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "first,follow_up,resolved",
    [
        (
            "¿Qué son los adapters?",
            "¿Y cuáles son sus ventajas?",
            "¿Y cuáles son las ventajas de los adapters?",
        ),
        (
            "¿Qué es el teacher forcing?",
            "¿y sus desventajas?",
            "¿y las desventajas del teacher forcing?",
        ),
        ("¿Qué es LoRA?", "¿Y para qué sirve?", "Sobre LoRA: ¿Y para qué sirve?"),
        ("¿Qué es LoRA?", "¿Qué es BERT?", "¿Qué es BERT?"),  # a new topic is left alone
    ],
)
def test_a_follow_up_names_its_subject(first, follow_up, resolved):
    assert resolve_question(follow_up, [Turn(first, first)]) == resolved


def test_topics_are_cut_from_the_question_as_written():
    assert question_topic("¿Qué es el *Teacher Forcing*?") == "el Teacher Forcing"
    assert question_topic("¿Cuáles son las ventajas de LoRA?") == "LoRA"
    assert question_topic("Hola") == ""


def _chat(assistant, questions):
    history, answers = [], []
    for question in questions:
        answer = assistant.answer(question, history)
        history.append(Turn(question, answer.query, answer.answer))
        answers.append(answer)
    return answers


def test_adapters_then_their_advantages_answers_about_adapters(index):
    assistant, generator = scripted(
        index, "Eficiencia y modularidad: se entrenan pocos parámetros por tarea [1]."
    )
    _, follow = _chat(assistant, ["¿Qué son los adapters?", "¿Y cuáles son sus ventajas?"])
    assert "las ventajas de los adapters" in generator.prompts[-1]
    assert "adapters" in index.search(follow.query, k=1)[0].chunk.heading.lower()
    quoted = _chat(extractive(index), ["¿Qué son los adapters?", "¿Y cuáles son sus ventajas?"])[1]
    assert not quoted.abstained
    assert all("adapters" in c.heading.lower() for c in quoted.citations)


def test_teacher_forcing_then_its_disadvantages_is_answered_from_that_passage(index):
    answers = _chat(extractive(index), ["¿Qué es el teacher forcing?", "¿y sus desventajas?"])
    follow = answers[1]
    assert not follow.abstained
    assert index.search(follow.query, k=1)[0].chunk.section == "Desventajas"
    assert any(c.heading.endswith("Desventajas") for c in follow.citations)


# -- the question's language -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text,language",
    [
        ("¿Qué es LoRA?", "es"),
        ("What is LoRA?", "en"),
        ("How does teacher forcing work?", "en"),
        ("Explica la destilación", "es"),
        ("BERT", "es"),
        ("Which are the advantages of adapters", "en"),
    ],
)
def test_the_question_language_is_detected(text, language):
    assert detect_language(text) == language


def test_an_english_question_gets_english_instructions_and_is_answered(index):
    assistant, generator = scripted(
        index, "It feeds the correct previous word as the next input [1]."
    )
    answer = assistant.answer("What is teacher forcing?")
    assert generator.prompts[-1].startswith("Answer in English")
    # The overlap checker sees no Spanish word in the English draft: it is withdrawn, and
    # retrieval being confident, the notes' own sentence is quoted instead of abstaining.
    assert not answer.abstained and answer.quoted


# -- the abstention policy, stage by stage ---------------------------------------------------

POLICY = AbstentionPolicy()  # the shipped thresholds


@pytest.mark.parametrize(
    "confidence,abstains",
    [
        (RetrievalConfidence(0.90, 0.8), False),
        (RetrievalConfidence(0.80, 0.8), True),  # weak cosine
        (RetrievalConfidence(0.90, 0.1), True),  # the question's words are not in the passages
        (RetrievalConfidence(0.90, 0.8, ("DPO",)), True),  # a name the notes never write
        (RetrievalConfidence(0.82, 0.0, same_language=False), False),  # English: cosine only
        (RetrievalConfidence(0.75, 0.0, same_language=False), True),
    ],
)
def test_before_generation(confidence, abstains):
    assert (POLICY.before(confidence) is not None) is abstains


@pytest.mark.parametrize("veto_below", [0.0, 0.5, 0.9])
def test_during_generation_the_veto_carries_the_policy_threshold(index, veto_below):
    policy = open_policy(veto_below=veto_below)
    assistant, generator = scripted(index, "Usa la palabra correcta como entrada [1].", policy)
    assistant.answer("¿Qué es Teacher Forcing?")
    (config,) = generator.configs
    assert config.veto == ABSTAIN and config.veto_below == veto_below
    assert POLICY.generation(GenerationConfig(), ("\n",)).stop == ("\n",)


@pytest.mark.parametrize(
    "no_answer,abstains",
    [(0.2, False), (0.5, False), (0.51, True), (1.0, True)],
)
def test_after_selection_the_no_answer_score_above_the_threshold_abstains(no_answer, abstains):
    assert (open_policy(max_no_answer=0.5).after_selection(no_answer) is not None) is abstains
    # Across languages the stem-reading no-answer model is not trusted by default.
    assert POLICY.after_selection(no_answer, same_language=False) is None


def test_a_question_the_selector_finds_no_answer_to_is_abstained_on_without_writing(index):
    policy = open_policy(max_no_answer=0.0)
    assistant, generator = scripted(index, "Usa la palabra correcta [1].", policy)
    # "cocina" is in no unit: the fake selector's no-answer score is above 0.
    answer = assistant.answer("¿Qué es Teacher Forcing en la cocina?")
    assert answer.abstained and answer.evidence == [] and generator.prompts == []
    assert "ninguna frase de los pasajes parece responder" in answer.remarks
    assert answer.no_answer is not None and answer.no_answer > 0.0


@pytest.mark.parametrize(
    "draft,expected",
    [
        (ABSTAIN, "abstain"),  # the model's own abstention stands
        ("no encuentro esto en tus notas [2]", "abstain"),  # any form of it
        ("Lo siento. No encuentro esto en tus notas.", "abstain"),  # anywhere in the draft
        ("Fue inventado en Marte por astronautas [1].", "quote"),  # withdrawn: evidence quoted
        ("Usa la palabra correcta de la secuencia como entrada siguiente [1].", "answer"),
    ],
)
def test_after_generation(index, draft, expected):
    assistant, _ = scripted(index, draft)
    answer = assistant.answer("¿Qué es Teacher Forcing?")
    outcome = "abstain" if answer.abstained else ("quote" if answer.quoted else "answer")
    assert outcome == expected
    if expected == "quote":
        assert answer.answer.startswith("«") and answer.sentences[0].supported
        assert "se muestra la frase de tus notas que mejor responde" in answer.remarks
        # The quotation is the evidence itself, cited to the evidence's passage.
        assert answer.sentences[0].cited == [answer.evidence[0].n]


@pytest.mark.parametrize(
    "text,abstains",
    [
        (ABSTAIN, True),
        ("no encuentro esto en tus notas", True),
        ("NO ENCUENTRO ESTO EN TUS NOTAS. [1]", True),
        ("No encuentro esto en tus notas. Pero quizá...", True),
        ("En tus notas no encuentro la fecha, pero sí el autor.", False),
        ("", False),
    ],
)
def test_one_recognizer_of_the_abstention_sentence(text, abstains):
    assert is_abstention(text) is abstains
