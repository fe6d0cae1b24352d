"""Training examples for the LoRA adapter, made from the notes and the dev questions.

Each example is the exact zero-shot prompt the assistant builds at inference (instructions,
numbered passages, question, "Respuesta:") and the completion the model should write:

- ``answer``: the right section's chunk among ``distractors`` chunks of other sections, in
  a random order; the completion is a short Spanish answer whose every sentence ends with
  the right passage's number, e.g. " Un MLM es ... [2]".
- ``abstain``: the question beside chunks of other sections only; the completion is
  exactly " No encuentro esto en tus notas.".

The trainer appends the tokenizer's EOS to every completion so the model learns to stop.

Sections are split, with a seed, into training and held-out sections; a held-out section
never appears in a training row, neither as a passage nor through its questions. Sections
that answer the same question (the dev set's ``evidence`` lists every one of them) are never
each other's distractors, so an abstention example never hides the answer.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from assistant.citations import split_sentences
from assistant.prompts import (
    ABSTAIN,
    answer_marker,
    build_prompt,
    chunk_body,
    first_sentence,
    parse_strategy,
)
from assistant.training.lora.config import LoraTrainConfig
from corpus.chunking import chunk_notes
from corpus.errors import NotesError, QuestionsFileError
from corpus.files import file_sha256
from corpus.loader import load_notes
from corpus.markdown import plain_text
from corpus.questions import Question, is_relevant, load_questions, read_jsonl
from corpus.records import Chunk, Hit
from corpus.text import normalize, strip_markup, strip_question_number

# chunk_body and first_sentence above are the prompt module's own helpers: passages and
# first-sentence answers are taken from a chunk exactly as its few-shot examples take them.
ZERO_SHOT = parse_strategy("zero-shot")
HEADING_ID = "heading"  # question_id of the question made from a section's own heading


def section_key(name: str) -> str:
    """One name per section on both sides of the data: the dev set writes
    ``¿Qué es *Self-Attention*?``, a chunk ``13. ¿Qué es Self-Attention?``. Both copies
    of a heading that occurs twice get the same key, so they stay on one side of the split."""
    return " ".join(strip_markup(strip_question_number(name.strip())).split())


@dataclass(frozen=True)
class TrainQuestion:
    id: str  # the dev-set id, or HEADING_ID
    section: str  # section_key of the section that answers it
    text: str
    answers: tuple[str, ...]  # reference answers without citations
    evidence: tuple[str, ...]  # strings that must stay in a cut passage


@dataclass
class Split:
    seed: int
    eval_fraction: float
    train_sections: list[str]
    eval_sections: list[str]
    train_question_ids: list[str]
    eval_question_ids: list[str]  # the answerable dev questions to evaluate the adapter on
    note: str = (
        "Section names are section_key(): no 'N.' number, no * _ ` markup. Compare a dev "
        "row's 'section' after removing its markup. Unanswerable dev questions are not used "
        "in training."
    )

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class DatasetReport:
    examples: int = 0
    answer_examples: int = 0
    abstain_examples: int = 0
    train_sections: int = 0
    eval_sections: int = 0
    train_questions: int = 0
    heading_questions: int = 0
    right_positions: dict[int, int] = field(default_factory=dict)  # passage number -> examples
    mean_prompt_chars: float = 0.0
    max_prompt_chars: int = 0
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)


# -- sections and the split ---------------------------------------------------------------


def group_sections(chunks: list[Chunk]) -> dict[str, list[Chunk]]:
    """section_key -> its chunks with some body text (a title-only chunk teaches nothing)."""
    groups: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in chunks:
        if chunk.section and plain_text(chunk_body(chunk)).strip():
            groups[section_key(chunk.section)].append(chunk)
    return dict(groups)


def split_sections(
    questions: list[Question], sections: Iterable[str], config: LoraTrainConfig
) -> Split:
    """Hold out ``eval_fraction`` of the sections that have dev questions, drawn with the
    seed; every other section trains."""
    sections = sorted(set(sections))
    answerable = [q for q in questions if q.answerable and q.section]
    asked = sorted({section_key(q.section) for q in answerable} & set(sections))
    held = max(1, round(len(asked) * config.eval_fraction))
    if len(asked) < 2 or len(sections) - held < config.passages:
        raise NotesError(
            f"Hay muy pocas secciones para separar entrenamiento y evaluación: {len(sections)} "
            f"secciones, {len(asked)} con preguntas; hacen falta al menos {config.passages} "
            f"de entrenamiento (un ejemplo muestra {config.passages} pasajes)"
        )
    rng = random.Random(config.seed)
    shuffled = list(asked)
    rng.shuffle(shuffled)
    eval_sections = sorted(shuffled[:held])
    train_sections = [s for s in sections if s not in eval_sections]
    return Split(
        seed=config.seed,
        eval_fraction=config.eval_fraction,
        train_sections=train_sections,
        eval_sections=eval_sections,
        train_question_ids=[q.id for q in answerable if section_key(q.section) in train_sections],
        eval_question_ids=[q.id for q in answerable if section_key(q.section) in eval_sections],
    )


def related_sections(
    questions: list[Question], groups: dict[str, list[Chunk]]
) -> dict[str, set[str]]:
    """section -> the other sections that also answer one of its questions (symmetric).

    The dev set's evidence names every section that answers a question, so these are the
    sections that must never stand in as distractors: they would make an abstention
    example wrong, or a second right passage in an answer example.
    """
    related: dict[str, set[str]] = defaultdict(set)
    for question in questions:
        if not (question.answerable and question.section):
            continue
        own = section_key(question.section)
        for key, chunks in groups.items():
            if key != own and any(is_relevant(c.text, question.evidence) for c in chunks):
                related[own].add(key)
                related[key].add(own)
    return related


# -- questions and answers ------------------------------------------------------------------


def _is_question_heading(title: str) -> bool:
    """ "¿Qué es LoRA?" or "Explicá la destilación de modelos." ask something;
    "Ventajas" or "Teacher Forcing en Modelos de Lenguaje" do not."""
    return title.endswith(("?", "."))


def _usable_sentence(sentence: str) -> bool:
    """A prose sentence that can answer on its own: not "1.", not a list, not "Surgen
    debido a:" (these sections start with a list, which is no one-sentence answer)."""
    return (
        len(sentence) >= 40
        and sentence[:1].isalpha()
        and "\n" not in sentence
        and not sentence.rstrip().endswith(":")
    )


def train_questions(
    questions: list[Question], groups: dict[str, list[Chunk]], sections: list[str]
) -> tuple[list[TrainQuestion], list[str]]:
    """The questions of the given sections: every dev question, plus the section's own
    heading when it asks something the dev set does not already ask in the same words and
    the section opens with a prose sentence (the answer). Also warnings for dev questions
    whose section is not in the notes."""
    wanted = set(sections)
    result: list[TrainQuestion] = []
    warnings = []
    asked: dict[str, set[str]] = defaultdict(set)
    for question in questions:
        if not (question.answerable and question.section):
            continue
        key = section_key(question.section)
        if key not in groups:
            warnings.append(
                f"{question.id}: la sección {question.section!r} no está en las notas; se omite"
            )
            continue
        asked[key].add(normalize(question.question))
        if key in wanted and question.answers:
            result.append(
                TrainQuestion(
                    question.id,
                    key,
                    question.question,
                    tuple(question.answers),
                    tuple(question.evidence),
                )
            )
    for key in sorted(wanted):
        chunk = groups[key][0]
        title = section_key(chunk.section)
        sentence = first_sentence(chunk_body(chunk))
        if (
            _is_question_heading(title)
            and normalize(title) not in asked[key]
            and _usable_sentence(sentence)
        ):
            result.append(TrainQuestion(HEADING_ID, key, title, (sentence,), (sentence,)))
    result.sort(key=lambda q: (q.section, q.id))
    return result, warnings


def cite(answer: str, n: int) -> str:
    """Every sentence of the answer closed by [n]: the answer checker credits a citation
    to the sentence it follows, so a sentence without one counts as unsupported."""
    sentences = split_sentences(answer.strip()) or [answer.strip()]
    return " ".join(f"{sentence} [{n}]" for sentence in sentences)


# -- passages -----------------------------------------------------------------------------


def _evidence_end(text: str, evidence: Iterable[str]) -> int:
    """The shortest prefix of ``text`` that still holds every evidence string found in it
    (0 when none is). Binary search: containment only grows with the prefix."""
    haystack = normalize(text)
    needed = 0
    for needle in filter(None, map(normalize, evidence)):
        if needle not in haystack:
            continue
        low, high = 1, len(text)
        while low < high:
            middle = (low + high) // 2
            if needle in normalize(text[:middle]):
                high = middle
            else:
                low = middle + 1
        needed = max(needed, low)
    return needed


def cut_passage(chunk: Chunk, limit: int, evidence: Iterable[str] = ()) -> Chunk:
    """The chunk shortened to about ``limit`` characters at a line (or sentence, or word)
    boundary, never before the end of its evidence. Only training prompts are cut: at
    inference the assistant shows whole chunks (up to ChunkConfig.chunk_size)."""
    text = chunk.text
    if len(text) <= limit:
        return chunk
    needed = _evidence_end(text, evidence)
    if needed > limit:  # keep the evidence: end at the line that finishes it
        newline = text.find("\n", needed)
        cut = len(text) if newline < 0 else newline
    else:
        window = text[: limit + 1]
        floor = max(needed, limit // 2)
        cut = max(window.rfind("\n"), 0)
        if cut < floor:
            period = window.rfind(". ")
            cut = period + 1 if period + 1 >= floor else max(window.rfind(" "), floor)
    kept = text[:cut].rstrip()
    return replace(chunk, text=kept, end=chunk.start + len(kept))


# -- examples -----------------------------------------------------------------------------


def _right_chunk(question: TrainQuestion, chunks: list[Chunk]) -> Chunk:
    """The section's chunk that holds the evidence (a long section has several)."""
    return next((c for c in chunks if is_relevant(c.text, question.evidence)), chunks[0])


def _row(question: TrainQuestion, hits: list[Hit], completion: str, kind: str, cited: int) -> dict:
    return {
        "prompt": build_prompt(ZERO_SHOT, question.text, hits, []),
        "completion": completion,
        "section": question.section,
        "kind": kind,
        "question_id": question.id,
        "question": question.text,
        "cited": cited,  # 1-based number of the right passage; 0 for an abstention
        "passage_sections": [section_key(hit.chunk.section) for hit in hits],
    }


def make_examples(
    questions: list[TrainQuestion],
    groups: dict[str, list[Chunk]],
    train_sections: list[str],
    related: dict[str, set[str]],
    config: LoraTrainConfig,
) -> list[dict]:
    """Answer examples (``variants`` per question) and abstention examples, shuffled."""
    rng = random.Random(config.seed)
    k = config.passages
    draws = [(q, v) for q in questions for v in range(config.variants)]
    # A shuffled deck of positions: each [n] is the right one equally often.
    positions = [i % k for i in range(len(draws))]
    rng.shuffle(positions)

    def others(question: TrainQuestion, count: int) -> list[Chunk]:
        allowed = [
            s
            for s in train_sections
            if s != question.section and s not in related.get(question.section, ())
        ]
        if len(allowed) < count:
            raise NotesError(
                f"La sección {question.section!r} tiene solo {len(allowed)} secciones de "
                f"entrenamiento no relacionadas; hacen falta {count} para los distractores"
            )
        return [
            cut_passage(rng.choice(groups[s]), config.passage_chars)
            for s in rng.sample(allowed, count)
        ]

    rows = []
    for (question, variant), position in zip(draws, positions):
        right = cut_passage(
            _right_chunk(question, groups[question.section]),
            config.passage_chars,
            question.evidence,
        )
        chunks = others(question, config.distractors)
        chunks.insert(position, right)
        answer = question.answers[variant % len(question.answers)]
        rows.append(
            _row(
                question,
                [Hit(c, 0.0) for c in chunks],
                " " + cite(answer, position + 1),
                "answer",
                position + 1,
            )
        )

    # abstain_fraction of ALL examples: a / (answers + a) = f  =>  a = answers * f / (1 - f)
    abstentions = round(len(rows) * config.abstain_fraction / (1 - config.abstain_fraction))
    asked = list(questions)
    rng.shuffle(asked)
    for i in range(abstentions if asked else 0):
        question = asked[i % len(asked)]
        chunks = others(question, k)
        rows.append(_row(question, [Hit(c, 0.0) for c in chunks], " " + ABSTAIN, "abstain", 0))
    rng.shuffle(rows)
    return rows


# -- the entry point ----------------------------------------------------------------------


def build_dataset(
    notes_dir: str | Path,
    dev_questions: str | Path,
    out: str | Path,
    config: LoraTrainConfig | None = None,
    split_path: str | Path | None = None,
) -> dict:
    """Write ``out`` (JSONL rows {prompt, completion, section, kind, ...}), its config
    beside it (``<name>.config.json``) and the section split (``split_path``, by default
    ``lora_split.json`` in the same folder). Returns the DatasetReport as a dict."""
    config = config or LoraTrainConfig()
    notes_dir, dev_questions, out = Path(notes_dir), Path(dev_questions), Path(out)
    split_path = Path(split_path) if split_path else out.parent / "lora_split.json"
    loaded = load_notes(notes_dir)
    groups = group_sections(chunk_notes(loaded.notes))
    if not groups:
        raise NotesError(f"Las notas de {notes_dir} no tienen secciones con texto")
    questions = load_questions(dev_questions)
    if not any(q.answerable and q.section for q in questions):
        raise QuestionsFileError(
            f"{dev_questions} no tiene preguntas respondibles con 'section': no hay con qué "
            "separar entrenamiento y evaluación"
        )

    split = split_sections(questions, groups, config)
    related = related_sections(questions, groups)
    asked, warnings = train_questions(questions, groups, split.train_sections)
    rows = make_examples(asked, groups, split.train_sections, related, config)

    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    split_path.write_text(
        json.dumps(split.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    config_path = out.with_suffix(".config.json")
    provenance = {
        "config": config.to_json(),
        "notes_dir": str(notes_dir),
        "notes_sha256": {note.source: note.sha256 for note in loaded.notes},
        "dev_questions": str(dev_questions),
        "dev_questions_sha256": file_sha256(dev_questions),
        "split": str(split_path),
        "strategy": ZERO_SHOT.name,
    }
    config_path.write_text(
        json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )

    answers = [r for r in rows if r["kind"] == "answer"]
    prompt_chars = [len(r["prompt"]) for r in rows]
    report = DatasetReport(
        examples=len(rows),
        answer_examples=len(answers),
        abstain_examples=len(rows) - len(answers),
        train_sections=len(split.train_sections),
        eval_sections=len(split.eval_sections),
        train_questions=len(asked),
        heading_questions=sum(q.id == HEADING_ID for q in asked),
        right_positions=dict(sorted(Counter(r["cited"] for r in answers).items())),
        mean_prompt_chars=round(sum(prompt_chars) / max(len(rows), 1), 1),
        max_prompt_chars=max(prompt_chars, default=0),
        warnings=loaded.warnings + warnings,
        files={"data": str(out), "config": str(config_path), "split": str(split_path)},
    )
    return asdict(report)


def _example(row: dict) -> dict:
    if not (isinstance(row["prompt"], str) and isinstance(row["completion"], str)):
        raise TypeError("prompt y completion deben ser texto")
    return row


def read_examples(path: str | Path) -> list[dict]:
    """The rows of a dataset written by build_dataset; QuestionsFileError when the file is
    missing or a row lacks its prompt or completion."""
    return read_jsonl(
        path,
        _example,
        "entrenamiento",
        '{"prompt", "completion", ...}',
        hint="; créalo con build_dataset (assistant.training.lora.data)",
    )


# -- chain-of-thought examples ----------------------------------------------------------------

COT = parse_strategy("cot:0")  # the tuned model reads cot without worked examples
_EVIDENCE_SENTENCE_MIN = 20


def evidence_sentence(chunk: Chunk, evidence: Iterable[str]) -> str:
    """The sentence (or list item) of the chunk's body, as the prompt shows it, that holds
    one of the evidence strings; "" when none does."""
    needles = [n for n in map(normalize, evidence) if n]
    body = plain_text(chunk_body(chunk))
    for line in body.splitlines():
        for sentence in split_sentences(line):
            plain = normalize(sentence)
            if len(plain) >= _EVIDENCE_SENTENCE_MIN and any(n in plain for n in needles):
                return sentence.strip().lstrip("-*• ").strip()
    return ""


def make_cot_examples(
    questions: list[TrainQuestion],
    groups: dict[str, list[Chunk]],
    train_sections: list[str],
    related: dict[str, set[str]],
    config: LoraTrainConfig,
    count: int,
) -> list[dict]:
    """``count`` cot rows: the prompt of ``cot:0``, the completion quoting the passage's
    evidence sentence with its [n], then ``Respuesta:`` and the cited answer. Questions
    whose evidence is no whole sentence of the passage (a table cell, a formula) are
    skipped: there is nothing to quote."""
    rng = random.Random(config.seed + 1)  # independent of make_examples' draws
    usable = []
    for question in questions:
        right = cut_passage(
            _right_chunk(question, groups[question.section]),
            config.passage_chars,
            question.evidence,
        )
        sentence = evidence_sentence(right, question.evidence)
        if sentence:
            usable.append((question, right, sentence))
    rng.shuffle(usable)
    rows = []
    for question, right, sentence in usable[:count]:
        allowed = [
            s
            for s in train_sections
            if s != question.section and s not in related.get(question.section, ())
        ]
        chunks = [
            cut_passage(rng.choice(groups[s]), config.passage_chars)
            for s in rng.sample(allowed, min(config.distractors, len(allowed)))
        ]
        position = rng.randrange(len(chunks) + 1)
        chunks.insert(position, right)
        n = position + 1
        answer = question.answers[rng.randrange(len(question.answers))]
        completion = f"\n- {sentence} [{n}]\n{answer_marker()} {cite(answer, n)}"
        row = _row(question, [Hit(c, 0.0) for c in chunks], completion, "cot", n)
        row["prompt"] = build_prompt(COT, question.text, [Hit(c, 0.0) for c in chunks], [])
        rows.append(row)
    return rows


def notes_rows(
    notes_dir: str | Path, dev_questions: str | Path, config: LoraTrainConfig, cot: int = 0
) -> tuple[list[dict], Split]:
    """The notes' answer and abstention rows (as build_dataset makes them) plus ``cot``
    chain-of-thought rows, without writing anything."""
    loaded = load_notes(Path(notes_dir))
    groups = group_sections(chunk_notes(loaded.notes))
    questions = load_questions(dev_questions)
    split = split_sections(questions, groups, config)
    related = related_sections(questions, groups)
    asked, _ = train_questions(questions, groups, split.train_sections)
    rows = make_examples(asked, groups, split.train_sections, related, config)
    rows += make_cot_examples(asked, groups, split.train_sections, related, config, cot)
    return rows, split
