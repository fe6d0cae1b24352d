"""Follow-up questions: "¿y cuáles son sus desventajas?" means nothing to a retriever alone.

A question that reads like a follow-up is searched together with the previous question
(itself already resolved). Hand-written because it is a few rules; a query-rewriting model
would need a generator call before every search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.bm25 import analyse, fold_accents

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


_NAMED = re.compile(r"\b[A-Z][A-Za-z0-9-]*[A-Z][A-Za-z0-9-]*\b")  # BERT, LoRA, GPT-3, RLHF


def is_follow_up(question: str) -> bool:
    """Anaphora or an opening "y", or a short question that names no topic of its own
    ("¿Para qué se usa?", "¿Cómo se pueden mitigar?"); "¿Qué es LoRA?" names one."""
    folded = fold_accents(question.lower())
    if _OPENERS.search(folded) or _ANAPHORA.search(folded):
        return True
    content_words = analyse(question)
    return len(content_words) <= 2 and not _NAMED.search(question) and not any(
        len(word) >= 6 for word in content_words  # a long stem names a topic: "tokeniz"
    )


def resolve_query(question: str, history: list[Turn] | tuple[Turn, ...] = ()) -> str:
    """The text to search for ``question`` given the earlier turns of the chat."""
    if not history or not is_follow_up(question):
        return question
    return f"{history[-1].query} {question}"
