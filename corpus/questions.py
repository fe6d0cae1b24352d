"""Question files (JSONL) and the evidence-based relevance rule shared by every eval.

In the corpus layer: question files are input data like the notes, read by the evals and
by the LoRA data builder alike.

One object per line: {"id", "question", "answers": [..], "evidence": [..], "answerable"}.
Extra keys (e.g. "section") are kept but not required.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from corpus.errors import QuestionsFileError
from corpus.text import normalize

T = TypeVar("T")


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    answerable: bool = True
    section: str = ""


def is_relevant(text: str, evidence: list[str]) -> bool:
    """A passage is relevant when its normalized text contains any normalized evidence."""
    haystack = normalize(text)
    return any(needle and needle in haystack for needle in map(normalize, evidence))


def read_jsonl(
    path: str | Path, parse: Callable[[dict], T], kind: str, expected: str, hint: str = ""
) -> list[T]:
    """The parsed rows of a JSONL file; QuestionsFileError naming the file and line when it
    is missing, empty, or a row does not parse (``parse`` raises KeyError/TypeError)."""
    path = Path(path)
    if not path.is_file():
        raise QuestionsFileError(f"No existe el archivo de {kind}: {path}{hint}")
    rows: list[T] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(parse(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise QuestionsFileError(
                    f"{path}, línea {number}: fila no válida ({type(err).__name__}: {err}); "
                    f"se espera {expected}"
                ) from None
    if not rows:
        raise QuestionsFileError(f"El archivo de {kind} está vacío: {path}")
    return rows


def _question(row: dict) -> Question:
    return Question(
        id=str(row["id"]),
        question=str(row["question"]),
        answers=[str(a) for a in row.get("answers", [])],
        evidence=[str(e) for e in row.get("evidence", [])],
        answerable=bool(row.get("answerable", True)),
        section=str(row.get("section", "")),
    )


def load_questions(path: str | Path) -> list[Question]:
    return read_jsonl(
        path, _question, "preguntas", '{"id", "question", "answers", "evidence", "answerable"}'
    )
