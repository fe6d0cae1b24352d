"""Which language a question is in: Spanish (the notes' language) or English.

Hand-written because the question is short: language detectors (langdetect, langid) are
trained on sentences and guess wrong on "¿Qué es LoRA?" or "What is BERT?", where the
only evidence is two function words. Counting the function words of the two languages
the assistant speaks is enough to choose between them.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["es", "en"]

_WORD = re.compile(r"[a-záéíóúüñ']+")
_SPANISH = frozenset(
    "qué que cuál cuáles cómo cuándo dónde quién quiénes por para el la los las un una unos "
    "unas de del en es son se su sus y o con sin al lo le les más entre sobre cuántos "
    "cuántas tiene tienen hay esto eso este esta ese esa".split()
)
_ENGLISH = frozenset(
    "what which who whom whose when where why how is are was were does do did the a an of "
    "in on for to and or with without its their this that these those can could should "
    "would there between about many much has have".split()
)


def detect_language(text: str) -> Language:
    """ "en" when the text has more English than Spanish function words (ties and
    questions opening with ¿ are Spanish: the notes' language is the safe default)."""
    if "¿" in text or re.search(r"[ñáéíóú]", text.lower()):
        return "es"
    words = _WORD.findall(text.lower())
    english = sum(word in _ENGLISH for word in words)
    spanish = sum(word in _SPANISH for word in words)
    return "en" if english > spanish else "es"


def is_spanish(text: str) -> bool:
    return detect_language(text) == "es"
