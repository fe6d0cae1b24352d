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
            except RowError as err:
                raise QuestionsFileError(
                    f"{path}, línea {number}: fila no válida ({err}); se espera {expected}"
                ) from None
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise QuestionsFileError(
                    f"{path}, línea {number}: fila no válida ({type(err).__name__}: {err}); "
                    f"se espera {expected}"
                ) from None
    if not rows:
        raise QuestionsFileError(f"El archivo de {kind} está vacío: {path}")
    return rows


class RowError(ValueError):
    """A JSONL row parsed as JSON but a field has the wrong type or value; the message
    names the field and what it holds, read_jsonl adds the file and the line."""


def _json_repr(value) -> str:
    return json.dumps(value, ensure_ascii=False)[:60]


def _text(row: dict, key: str, required: bool = False) -> str:
    value = row.get(key, "")
    if key not in row and required:
        raise RowError(f'falta "{key}"')
    if not isinstance(value, str) or (required and not value.strip()):
        raise RowError(f'"{key}" debe ser un texto no vacío, no {_json_repr(value)}')
    return value


def _texts(row: dict, key: str) -> list[str]:
    value = row.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RowError(f'"{key}" debe ser una lista de textos, no {_json_repr(value)}')
    return list(value)


def _question(row: dict) -> Question:
    """One validated row: a null or empty question would be asked as "None" or abort the
    run halfway, after the models have loaded."""
    if not isinstance(row, dict):
        raise RowError(f"se esperaba un objeto JSON, no {_json_repr(row)}")
    if "id" not in row:
        raise RowError('falta "id"')
    if isinstance(row["id"], bool) or not isinstance(row["id"], (str, int)) or row["id"] == "":
        raise RowError(f'"id" debe ser un texto o un número, no {_json_repr(row["id"])}')
    answerable = row.get("answerable", True)
    if not isinstance(answerable, bool):
        raise RowError(f'"answerable" debe ser true o false, no {_json_repr(answerable)}')
    return Question(
        id=str(row["id"]),
        question=_text(row, "question", required=True),
        answers=_texts(row, "answers"),
        evidence=_texts(row, "evidence"),
        answerable=answerable,
        section=_text(row, "section"),
    )


def load_questions(path: str | Path) -> list[Question]:
    return read_jsonl(
        path, _question, "preguntas", '{"id", "question", "answers", "evidence", "answerable"}'
    )


def holds_evidence(unit: str, question: Question) -> bool:
    """Whether one passage unit (a sentence, a list item with its label, a table cell)
    holds the question's evidence: the selector's positive, the oracle's "right unit".

    A unit holds an evidence string that it contains. An evidence string may also run
    over two sentences (the notes' evidence is a run of prose inside one paragraph), so a
    unit that is itself a piece of at least 20 characters of an evidence string holds it
    too, provided that it carries an answer span when the string does (SQuAD-es evidence
    is the whole sentence around a short answer: only its piece with the answer counts).
    """
    text = normalize(unit)
    if not text:
        return False
    answers = [normalize(a) for a in question.answers if a.strip()]
    for needle in map(normalize, question.evidence):
        if not needle:
            continue
        if needle in text:
            return True
        if len(text) >= 20 and _core(text) in needle:
            spans = [a for a in answers if a in needle]
            if not spans or any(a in text for a in spans):
                return True
    return False


def _core(unit: str) -> str:
    """A unit without the label a list item carries ("ventajas: menor memoria" -> "menor
    memoria"): the label is repeated context, not part of the evidence's prose."""
    head, sep, tail = unit.partition(": ")
    return tail if sep and len(tail) >= 20 else unit
