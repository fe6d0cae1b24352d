"""A cited passage as the sources panel shows it, its evidence sentence highlighted.

The evidence itself (which sentence of the passage backs an answer sentence) is found once,
on the answering path (``assistant.grounding.evidence_spans``), and carried in the Answer.
"""

from __future__ import annotations

from assistant.answer import Answer
from assistant.grounding import EvidenceSpan
from assistant.web.markdown_html import passage_html
from assistant.web.note_images import NoteLinks


def answer_evidence(answer: Answer) -> dict[tuple[int, int], EvidenceSpan]:
    """(sentence index, passage number) -> the evidence, for every citation of the answer."""
    return {
        (i, span.n): span for i, check in enumerate(answer.sentences) for span in check.evidence
    }


def highlight_html(
    passage: str, source: str, evidence: EvidenceSpan | None, links: NoteLinks | None = None
) -> str:
    """The passage of note ``source`` as a source card's ``passage`` block (Markdown
    rendered, no live HTML of the note's own) with the evidence wrapped in <mark>; with
    ``links``, its [[links]] open their notes and its images are drawn."""
    mark = None if evidence is None else (evidence.start, evidence.end)
    title = "" if evidence is None else f"respaldo {evidence.score:.2f}"
    if links is None:
        return passage_html(passage, source, mark, title)
    return passage_html(passage, source, mark, title, links.notes, links.images(source))
