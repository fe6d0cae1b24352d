"""Support checker: how well do the notes back each sentence of an answer?

``SupportChecker.scores(sentences, passages)`` gives a (n_sentences, n_passages) matrix in
[0, 1]; ``supported(score)`` applies the threshold chosen on the labeled dev set
(``eval/data/support_dev.jsonl``, ``eval/bench/support.py``, ``docs/results/support.json``).

Method, per (sentence, passage) pair
------------------------------------
1. **Units.** The passage is cut into the pieces one answer sentence could restate: each
   sentence of a Markdown line (pysbd, Spanish rules); a list item prefixed with the label
   it hangs from ("Encoder: Procesa la secuencia de entrada.", since the notes put a
   list's subject in its label); a table cell with its row and column names ("Complejidad
   — RNN: Menor complejidad"). Headings (questions here) and bare labels are not units.
2. **Semantic** (e5): the best cosine between the sentence and any unit, rescaled from
   [cosine_floor, cosine_ceiling] to [0, 1]. Against units, one on-point line of a long
   chunk is not diluted by the rest. It separates off-topic and invented sentences and
   rewards paraphrases that share few words with the notes, but it barely sees negation,
   swapped terms or numbers: e5 puts "BERT usa MLM..." and "GPT usa MLM..." at 0.96.
3. **Lexical**: the share of the sentence's content words (``index.bm25.analyse``:
   stopwords out, Snowball stems, accents folded) found anywhere in the passage. It gives
   off-topic and invented sentences a low absolute score and sees terms the passage lacks.
4. **Checks**, each a multiplicative penalty (the *aligned unit* is the best-cosine one):
   - negation flip: the sentence and its aligned unit disagree on having a negation cue
     ("no", "nunca", "sin", "ni", "en lugar de", "evita"...; "... o no" is not one);
   - swapped term: the sentence has a term the aligned unit lacks while the unit has, in
     the same group, one the sentence lacks. Groups: model names written like code or
     acronyms (BERT, GPT, LoRA, T5), and the contrast pairs of ``SupportConfig.contrasts``
     (encoder/decoder, teacher/student, mayor/menor...);
   - foreign name: a name in the sentence (code-like, or capitalized mid-sentence:
     "Transformers", "Google") that the passage never writes;
   - changed number: a number in the sentence (digits, or "dos".."doce") that the passage
     does not contain (list markers and heading numbers are not numbers).

score = (semantic_weight * semantic + (1 - semantic_weight) * lexical) * penalties, so a
verbatim sentence scores ~1 and any one fired check halves it or more.
``eval/bench/support.py`` reports the AUC of each component alone and of the mix.

Claims
------
``claim_spans`` cuts a sentence into its claims (clauses, list items). The answer path
scores each against the evidence its sentence rests on; a claim below
``SupportConfig.claim_threshold`` is flagged alone, and its sentence is unsupported.

Other scorers
-------------
``make_checker(name)``: ``hand`` (this one, the default: ``DEFAULT_SCORER``), ``learned``
(a sign-constrained logistic regression over these parts, learned.py) and ``cross`` (an e5
cross-encoder, cross.py), both trained on synthetic pairs (pairs.py). They are compared by
eval/bench/support.py; the hand-weighted mix wins on the hand-written sentences.

Special sentences
-----------------
- The abstention sentence ("No encuentro esto en tus notas.", any case or accents) makes
  no claim about the notes, so there is nothing to flag: it scores 1 everywhere. (The
  answer pipeline withdraws such answers before checking; this is for other callers.)
- A sentence with fewer than ``min_claim_words`` content words ("Sí.", "Exacto.",
  "Sí, BERT.") is an assent to the claim beside it, and e5 is unreliable on so little
  text: it takes the scores of the next full claim of the answer, else the previous one.
  Alone in an answer it keeps its own score, which is 0 when it has no content word.
- An empty sentence, and any sentence against an empty passage, scores 0.

Known limits
------------
- A role reversal inside one unit ("ROUGE para traducción y BLEU para resúmenes", "del peor
  al mejor", "el encoder es como el decoder") keeps every term present: no check fires
  and e5 drops only a little. This is most of the swapped_term misses in the results.
- The contrast groups are a short hand-written list for these notes (model names need
  none); antonyms outside it pass the swapped-term check.
- A faithful paraphrase that drops or adds a negation ("aparecen solo cuando..." for "no
  están presentes en modelos pequeños pero aparecen cuando...") is penalised.
- Numbers written as words beyond "doce", ordinals and symbols ("n+1" vs "n-1") are not
  compared.
- A plausible invented claim built from the passage's own words and names is caught only
  by e5; the notes hold no knowledge outside themselves to contradict it.

Speed: a unit's vector is cached by content hash in memory and on disk
(``EmbeddingCache``), so a passage is embedded once ever; each answer sentence costs one
e5 call. ``warm(passages)`` embeds the units ahead of time.
"""

from assistant.support.claims import (
    NEGATION_CUES,
    NUMBER_WORDS,
    claim_spans,
    content_words,
    foreign_names,
    has_negation,
    model_names,
    named_terms,
    names,
    numbers,
    passage_units,
    passage_words,
    sentence_claims,
)
from assistant.support.scorer import (
    DEFAULT_CONTRASTS,
    Checker,
    SupportChecker,
    SupportConfig,
    SupportParts,
)

# The support scorers (issue 25): the hand-weighted mix above, the learned feature model
# (learned.py) and the cross-encoder (cross.py), compared by eval/bench/support.py.
SCORERS = ("hand", "learned", "cross")
# The one every caller uses (the chat's flags, the withdrawal gate, citations, the quiz's
# grading): the candidate that wins on the hand-written sentences (docs/RESULTS.md,
# issue 25). The thresholds downstream (AbstentionPolicy.min_answer_support, the quiz's
# GradeConfig) are on its scale.
DEFAULT_SCORER = "hand"


def make_checker(name: str = DEFAULT_SCORER, embedder=None, cache_dir=None) -> SupportChecker:
    """The support checker of scorer ``name`` (the learned ones load their files here)."""
    if name == "hand":
        return SupportChecker(embedder, cache_dir=cache_dir)
    if name == "learned":
        from assistant.support.learned import LearnedChecker

        return LearnedChecker(embedder, cache_dir=cache_dir)
    if name == "cross":
        from assistant.support.cross import CrossChecker

        return CrossChecker(embedder, cache_dir=cache_dir)
    from corpus.errors import SettingsError

    raise SettingsError(f"verificador desconocido {name!r}; elige uno de {list(SCORERS)}")


__all__ = [
    "DEFAULT_CONTRASTS",
    "DEFAULT_SCORER",
    "SCORERS",
    "NEGATION_CUES",
    "NUMBER_WORDS",
    "Checker",
    "SupportChecker",
    "SupportConfig",
    "SupportParts",
    "claim_spans",
    "content_words",
    "foreign_names",
    "make_checker",
    "has_negation",
    "model_names",
    "named_terms",
    "names",
    "numbers",
    "passage_units",
    "passage_words",
    "sentence_claims",
]
