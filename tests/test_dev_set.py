"""Properties of the retrieval dev set ``eval/data/notes_dev.jsonl``.

The evaluator calls a retrieved chunk relevant when its normalized text contains any
normalized evidence string of the question, so every evidence string must survive that
normalization as a contiguous run of the Markdown notes in ``corpus/notes/``. These tests
check that, plus the schema and the size of the set. Stdlib only: no project imports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import NOTES

REPO = Path(__file__).resolve().parents[1]
DEV_SET = REPO / "eval" / "data" / "notes_dev.jsonl"
NOTES_DIR = NOTES  # the tracked notes (tests/conftest.py)

MIN_ANSWERABLE = 60
MIN_UNANSWERABLE = 15

REQUIRED_KEYS = {"id": str, "question": str, "answers": list, "evidence": list, "answerable": bool}
OPTIONAL_KEYS = {"section": str}

_MARKUP = re.compile(r"[*_`#]")
_SPACE = re.compile(r"\s+")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_QUESTION_NUMBER = re.compile(
    r"^\d+\.\s+"
)  # "## 12. ¿Qué es ...?": the number is not part of the section name


def normalize(text: str) -> str:
    """The evaluator's normalization: lowercase, drop * _ ` #, collapse whitespace."""
    return _SPACE.sub(" ", _MARKUP.sub("", text.lower())).strip()


def load_rows() -> list[dict]:
    lines = DEV_SET.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def load_sections() -> list[tuple[str, str]]:
    """(section name, normalized body) for every Markdown heading of the notes.

    The section name is the heading as written, without the ``N.`` question number.
    """
    sections: list[tuple[str, str]] = []
    for path in sorted(NOTES_DIR.glob("*.md")):
        name, body, in_fence = "", [], False
        for line in path.read_text(encoding="utf-8").splitlines():
            if _FENCE.match(line):
                in_fence = not in_fence
            match = None if in_fence else _HEADING.match(line)
            if match:
                sections.append((name, normalize("\n".join(body))))
                name, body = _QUESTION_NUMBER.sub("", match.group(1)), []
            else:
                body.append(line)
        sections.append((name, normalize("\n".join(body))))
    return sections


ROWS = load_rows()
ANSWERABLE = [row for row in ROWS if row.get("answerable") is True]
UNANSWERABLE = [row for row in ROWS if row.get("answerable") is False]


def row_id(row: dict) -> str:
    return str(row.get("id", "?"))


@pytest.fixture(scope="module")
def sections() -> list[tuple[str, str]]:
    if not sorted(NOTES_DIR.glob("*.md")):
        pytest.fail(f"no Markdown notes in {NOTES_DIR}; run scripts/convert_seeds.py first")
    return load_sections()


@pytest.fixture(scope="module")
def notes_text(sections: list[tuple[str, str]]) -> str:
    # Heading lines are left out, so evidence copied from a heading does not count.
    return "\n".join(body for _, body in sections)


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_schema(row: dict) -> None:
    missing = REQUIRED_KEYS.keys() - row.keys()
    extra = row.keys() - REQUIRED_KEYS.keys() - OPTIONAL_KEYS.keys()
    assert not missing, f"missing keys {sorted(missing)}"
    assert not extra, f"unexpected keys {sorted(extra)}"
    for key, kind in {**REQUIRED_KEYS, **OPTIONAL_KEYS}.items():
        if key in row:
            assert type(row[key]) is kind, f"{key} should be {kind.__name__}, got {row[key]!r}"
    for key in ("answers", "evidence"):
        assert all(isinstance(s, str) and s.strip() for s in row[key]), (
            f"{key} must be non-empty strings"
        )
    assert row["question"].strip()


@pytest.mark.parametrize("row", ANSWERABLE, ids=row_id)
def test_answerable_row_shape(row: dict) -> None:
    assert re.fullmatch(r"q\d{3}", row["id"])
    assert 1 <= len(row["answers"]) <= 2
    assert 1 <= len(row["evidence"]) <= 6
    assert row.get("section", "").strip(), "answerable rows name the section that answers them"


@pytest.mark.parametrize("row", UNANSWERABLE, ids=row_id)
def test_unanswerable_row_has_nothing_to_find(row: dict) -> None:
    assert re.fullmatch(r"u\d{3}", row["id"])
    assert row["answers"] == []
    assert row["evidence"] == []
    assert "section" not in row


def test_ids_are_unique() -> None:
    ids = [row["id"] for row in ROWS]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate ids: {duplicates}"


def test_set_size() -> None:
    assert len(ANSWERABLE) + len(UNANSWERABLE) == len(ROWS), "answerable must be true or false"
    assert len(ANSWERABLE) >= MIN_ANSWERABLE
    assert len(UNANSWERABLE) >= MIN_UNANSWERABLE


@pytest.mark.parametrize("row", ANSWERABLE, ids=row_id)
def test_evidence_occurs_in_notes(row: dict, notes_text: str) -> None:
    missing = [e for e in row["evidence"] if normalize(e) not in notes_text]
    assert not missing, f"evidence not found in {NOTES_DIR.name}/*.md: {missing}"


@pytest.mark.parametrize("row", ANSWERABLE, ids=row_id)
def test_evidence_lies_in_named_section(row: dict, sections: list[tuple[str, str]]) -> None:
    bodies = [body for name, body in sections if name == row["section"]]
    assert bodies, f"no heading named {row['section']!r} in the notes"
    # Evidence lists every section that answers the question, so only the primary one
    # (named in `section`) must hold at least one of the evidence strings.
    inside = [e for e in row["evidence"] if any(normalize(e) in body for body in bodies)]
    assert inside, f"no evidence string under heading {row['section']!r}: {row['evidence']}"
