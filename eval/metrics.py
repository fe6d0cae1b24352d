"""Answer metrics over normalized text: token F1, exact match and ROUGE-L, SQuAD-style
(lower case, punctuation and Spanish articles dropped, citation markers stripped)."""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable

from rouge_score import rouge_scorer

from assistant.citations import strip_citations

_ARTICLES = re.compile(r"\b(el|la|lo|los|las|un|una|unos|unas)\b")
_PUNCTUATION = set(string.punctuation) | {"¿", "¡", "«", "»", "“", "”", "‘", "’", "…", "—", "–"}


def normalize_answer(text: str) -> str:
    text = strip_citations(text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(reference).split()
    common = sum((Counter(predicted) & Counter(gold)).values())
    if not predicted or not gold:
        return float(predicted == gold)
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


class _Tokens:
    """rouge-score's default tokenizer drops every non-ASCII letter ("atención" -> "atenci n")."""

    def tokenize(self, text: str) -> list[str]:
        return unicodedata.normalize("NFC", normalize_answer(text)).split()


_ROUGE = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokens())


def rouge_l(prediction: str, reference: str) -> float:
    return _ROUGE.score(reference, prediction)["rougeL"].fmeasure


def best(metric: Callable[[str, str], float], prediction: str, references: list[str]) -> float:
    return max((metric(prediction, ref) for ref in references), default=0.0)
