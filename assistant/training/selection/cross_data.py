"""The cross-encoder's training questions: each with its retrieved units and their labels.

The questions are the learned ranker's (``selection.train``): the SQuAD-es **train**
articles (never dev or test) and the notes' dev questions outside the held-out sections.
Each is retrieved exactly as the assistant retrieves (top ``passages``), and every unit of
those passages is a row: label 1 when it holds the evidence (``holds_evidence``), 0
otherwise; an unanswerable question's units are all 0.

The rows are written once to a JSONL file in the cache (``pairs-p3-s0.jsonl``): retrieval over
the SQuAD-es train index takes minutes, training reads the rows many times.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from assistant.selection.features import candidates
from corpus.questions import Question, holds_evidence


@dataclass
class UnitRow:
    n: int
    index: int
    text: str
    heading: str
    label: int


@dataclass
class QuestionRows:
    id: str
    question: str
    group: str  # article or note section: questions of one group stay on one side of a split
    source: str  # "notes" or "squad"
    answerable: bool
    units: list[UnitRow] = field(default_factory=list)

    @property
    def has_positive(self) -> bool:
        return any(u.label for u in self.units)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict) -> QuestionRows:
        units = [UnitRow(**u) for u in record.pop("units")]
        return cls(**record, units=units)


def question_rows(index, question: Question, passages: int, source: str) -> QuestionRows:
    hits = index.search(question.question, k=passages)
    units = [
        UnitRow(
            u.n,
            u.index,
            u.text,
            u.heading,
            int(question.answerable and holds_evidence(u.text, question)),
        )
        for u in candidates(hits)
    ]
    return QuestionRows(
        question.id,
        question.question,
        question.section or question.id,
        source,
        question.answerable,
        units,
    )


def build_rows(squad: Path, cache: Path, passages: int, seed: int) -> list[QuestionRows]:
    from assistant.training.selection.train import (
        TrainConfig,
        notes_train_questions,
        squad_train_questions,
    )

    config = TrainConfig(passages=passages, seed=seed)
    squad_notes, squad_questions = squad_train_questions(squad, cache, config)
    return retrieved_rows(
        [
            (Path("corpus/notes"), notes_train_questions(), "notes"),
            (squad_notes, squad_questions, "squad"),
        ],
        passages,
    )


def retrieved_rows(
    sources: list[tuple[Path, list[Question], str]], passages: int
) -> list[QuestionRows]:
    """Every question of each (notes folder, questions, source) retrieved from that
    folder's index, as the assistant retrieves, with its units labelled."""
    from tqdm import tqdm

    from index.store import open_index

    rows = []
    for notes, questions, source in sources:
        index = open_index(notes)[0]
        rows += [
            question_rows(index, q, passages, source)
            for q in tqdm(questions, desc=f"Unidades ({source})", unit="preg")
        ]
    return rows


def load_rows(path: Path) -> list[QuestionRows]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [QuestionRows.from_json(json.loads(line)) for line in lines if line.strip()]


def cached_rows(squad: Path, cache: Path, passages: int = 3, seed: int = 0) -> list[QuestionRows]:
    """The rows from ``cache/pairs-p{passages}-s{seed}.jsonl``, built and written (atomically) the first time."""
    from corpus.files import atomic_write_text

    path = cache / f"pairs-p{passages}-s{seed}.jsonl"
    if path.is_file():
        return load_rows(path)
    rows = build_rows(squad, cache, passages, seed)
    atomic_write_text(
        path, "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in rows)
    )
    return rows


def split_groups(
    rows: list[QuestionRows], validation_share: float, seed: int
) -> tuple[list[QuestionRows], list[QuestionRows]]:
    """(train, validation): a share of the SQuAD-es articles held out whole for choosing
    the checkpoint and fitting the no-answer model; every notes question trains (there
    are ~60, and the notes are what the assistant answers)."""
    groups = sorted({r.group for r in rows if r.source == "squad"})
    random.Random(seed).shuffle(groups)
    held = set(groups[: max(1, round(len(groups) * validation_share))])
    train = [r for r in rows if r.group not in held]
    validation = [r for r in rows if r.group in held]
    return train, validation
