"""Follow-up questions: "¿y cuáles son sus desventajas?" means nothing to a retriever alone.

A question that reads like a follow-up is searched together with the previous question
(itself already resolved). Hand-written because it is a few rules; a query-rewriting model
would need a generator call before every search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.bm25 import analyse

# Words that point back to something said before (accents folded, lowercase).
_ANAPHORA = re.compile(
    r"\b(sus?|eso|esto|ello|esos?|esas?|estos?|estas?|dicho|dicha|mismo|misma|ellos|ellas|"
    r"este|esta|aquel|aquella|lo anterior|el anterior|la anterior)\b"
)
_OPENERS = re.compile(r"^\s*¿?\s*(y|pero|entonces|tambien|ademas)\b")


@dataclass(frozen=True)
class Turn:
    question: str  # as the student wrote it
    query: str  # what was searched for it (the question, or it resolved from history)
    answer: str = ""


def fold(text: str) -> str:
    import unicodedata

    return "".join(
        ch for ch in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(ch)
    )


def is_follow_up(question: str) -> bool:
    folded = fold(question)
    content_words = analyse(question)
    return bool(_OPENERS.search(folded) or _ANAPHORA.search(folded) or not content_words)


def resolve_query(question: str, history: list[Turn] | tuple[Turn, ...] = ()) -> str:
    """The text to search for ``question`` given the earlier turns of the chat."""
    if not history or not is_follow_up(question):
        return question
    return f"{history[-1].query} {question}"
