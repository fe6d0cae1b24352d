"""Follow-up questions: "¿y cuáles son sus desventajas?" means nothing to a retriever alone.

A question that reads like a follow-up is searched together with the previous question
(itself already resolved). Hand-written because it is a few rules; a query-rewriting model
would need a generator call before every search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corpus.text import analyse, fold_accents

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
    return (
        len(content_words) <= 2
        and not _NAMED.search(question)
        and not any(
            len(word) >= 6
            for word in content_words  # a long stem names a topic: "tokeniz"
        )
    )


def resolve_query(question: str, history: list[Turn] | tuple[Turn, ...] = ()) -> str:
    """The text to search for ``question`` given the earlier turns of the chat."""
    if not history or not is_follow_up(question):
        return question
    return f"{history[-1].query} {question}"


# "¿Qué es el teacher forcing?" -> "el teacher forcing"; "¿Cuáles son las ventajas de LoRA?"
# -> "LoRA"; "Explica la atención" -> "la atención". Matched on the folded lowercase text,
# cut from the original by offset (folding keeps the length).
_TOPIC = re.compile(
    r"^\W*(?:y\s+)?(?:que\s+(?:es|son|significa|hace|hacen)|cual(?:es)?\s+(?:es|son)"
    r"(?:\s+(?:el|la|los|las)\s+\w+\s+de)?|como\s+(?:funcionan?|se\s+\w+)|para\s+que\s+sirven?"
    r"|explica(?:me)?|define|describe|habla(?:me)?\s+de)\s+(?P<topic>.+?)\W*$"
)
_POSSESSIVE = re.compile(r"\b(?P<word>sus?)\s+(?P<noun>\w+)", re.IGNORECASE)


def question_topic(question: str) -> str:
    """What a question asks about, as written ("" when no pattern matches)."""
    folded = fold_accents(question.lower())
    match = _TOPIC.match(folded)
    if not match:
        return ""
    topic = question[match.start("topic") : match.end("topic")]
    return " ".join(re.sub(r"[*_`]", "", topic).split()).strip(" ¿?¡!.")


def _article(noun: str, plural: bool) -> str:
    feminine = noun.lower().endswith(("a", "as", "dad", "dades", "ión", "iones", "ción", "ciones"))
    return ("las" if feminine else "los") if plural else ("la" if feminine else "el")


def resolve_question(question: str, history: list[Turn] | tuple[Turn, ...] = ()) -> str:
    """The question as the model should read it: a follow-up names its subject.

    "¿Y cuáles son sus ventajas?" after "¿Qué son los adapters?" becomes "¿Y cuáles son
    las ventajas de los adapters?"; a follow-up without a possessive to replace ("¿Cómo se
    mitiga?") is prefixed with "Sobre los adapters:". Without a follow-up, or when the
    previous question names no topic, the question is returned as written. Known limit:
    the article before the noun is guessed from its ending (ventajas -> las, usos -> los).
    """
    if not history or not is_follow_up(question):
        return question
    topic = ""
    for turn in reversed(history):  # a chain of follow-ups keeps the first one's subject
        topic = question_topic(turn.question)
        if topic:
            break
    if not topic:
        return question
    match = _POSSESSIVE.search(question)
    if match:
        noun = match.group("noun")
        phrase = f"{_article(noun, match.group('word').lower() == 'sus')} {noun} de {topic}"
        resolved = question[: match.start()] + phrase + question[match.end() :]
        return re.sub(r"\bde el\b", "del", resolved)
    return f"Sobre {topic}: {question}"
