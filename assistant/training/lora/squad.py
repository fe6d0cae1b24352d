"""SQuAD v2.0 in Spanish (SQuAD-es) -> notes folders, question files and LoRA examples.

Source: SQuAD v2.0 dev translated to Spanish by Carrino, Costa-jussà and Fonollosa (LREC
2020, TranslateAlignRetrieve, MIT licence); SQuAD itself is CC BY-SA 4.0 (Rajpurkar et
al.). Every file this module writes carries that attribution in its folder's README.

The data is split **by article** (paragraphs of one article share names and facts), with a
seed, into train / dev / test articles. Each article becomes one Markdown note (``# title``,
then its paragraphs separated by blank lines), so the held-out articles can be indexed as a
notes folder and asked through the assistant's normal path, and training prompts show
passages exactly as the index cuts them at inference.

A training example is the zero-shot (or cot) prompt the assistant builds, with the chunk
that holds the question's paragraph among passages the project's own index retrieves for
the question, in a random order:

- answerable -> the short answer span (one sentence for why/how questions) and the right [n];
- unanswerable (``is_impossible``: the paragraph looks as if it answers, but does not) ->
  the abstention sentence;
- cot -> the sentence holding the answer, quoted with its [n], then ``Respuesta:`` and the
  answer: the gold sentence is the rationale.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from assistant.prompts import ABSTAIN, answer_marker, build_prompt, parse_strategy
from corpus.errors import QuestionsFileError, SettingsError
from corpus.records import Chunk, Hit
from corpus.text import sentence_spans

ATTRIBUTION = (
    "Derived from SQuAD-es v2.0 (dev, small): SQuAD v2.0 machine-translated into Spanish by "
    "Carrino, Costa-jussà and Fonollosa, 'Automatic Spanish Translation of the SQuAD Dataset "
    "for Multilingual Question Answering', LREC 2020 (TranslateAlignRetrieve, MIT licence). "
    "SQuAD v2.0 is CC BY-SA 4.0 (Rajpurkar, Jia and Liang, 2018); so is this derivative."
)
ZERO_SHOT = parse_strategy("zero-shot")
COT = parse_strategy("cot:0")  # the tuned model reads cot without worked examples
NO_EVIDENCE_FACT = "- Ningún pasaje trata esta pregunta."
# Questions answered with a whole sentence rather than a span: their SQuAD spans are
# clauses torn out of a sentence ("porque X"), which read badly alone.
_WHY_HOW = re.compile(r"^\W*(por qu[eé]|c[oó]mo)\b", re.IGNORECASE)


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    question: str
    answers: tuple[str, ...]  # distinct answer texts, most frequent first; () if impossible
    start: int  # offset of the first answer in its paragraph (-1 if impossible)
    impossible: bool


@dataclass(frozen=True)
class Paragraph:
    context: str
    questions: tuple[SquadQuestion, ...]


@dataclass(frozen=True)
class Article:
    title: str
    paragraphs: tuple[Paragraph, ...]

    @property
    def slug(self) -> str:
        return slugify(self.title)


@dataclass
class LoadReport:
    articles: int = 0
    paragraphs: int = 0
    questions: int = 0
    impossible: int = 0
    dropped_misaligned: int = 0  # answerable questions none of whose answers is in the text


def clean_title(title: str) -> str:
    """ "Complejidad computacional _ teoría" -> "Complejidad computacional teoría" (the
    translation kept Wikipedia's underscores as words)."""
    return " ".join(title.replace("_", " ").split()).rstrip(".")


def slugify(title: str) -> str:
    folded = unicodedata.normalize("NFKD", clean_title(title)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", folded.lower()).strip("_") or "articulo"


def _question(raw: dict, context: str) -> SquadQuestion | None:
    impossible = bool(raw.get("is_impossible"))
    if impossible:
        return SquadQuestion(raw["id"], raw["question"].strip(), (), -1, True)
    # Machine translation misaligns some answers: keep those whose text is at its offset,
    # or failing that anywhere in the paragraph; drop the question if none is.
    found: list[tuple[str, int]] = []
    for answer in raw.get("answers", []):
        text, start = answer["text"].strip(), int(answer["answer_start"])
        if not text:
            continue
        if context[start : start + len(text)] != text:
            start = context.find(text)
        if start >= 0:
            found.append((text, start))
    if not found:
        return None
    counts = Counter(text for text, _ in found)
    ordered = sorted(counts, key=lambda t: (-counts[t], len(t)))
    start = next(s for t, s in found if t == ordered[0])
    return SquadQuestion(raw["id"], raw["question"].strip(), tuple(ordered), start, False)


def load_squad(path: str | Path) -> tuple[list[Article], LoadReport]:
    """The articles of a SQuAD v2.0 JSON file, misaligned answers dropped (counted)."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        articles, report = _parse(payload["data"])
    except FileNotFoundError:
        raise QuestionsFileError(f"No existe el fichero SQuAD {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise QuestionsFileError(
            f"{path} no es un JSON de SQuAD v2.0 ({type(error).__name__}: {error})"
        ) from None
    if not articles:
        raise QuestionsFileError(f"{path} no tiene artículos")
    return articles, report


def _parse(raw_articles: list[dict]) -> tuple[list[Article], LoadReport]:
    report = LoadReport()
    articles = []
    for raw in raw_articles:
        paragraphs = []
        for raw_paragraph in raw["paragraphs"]:
            context = raw_paragraph["context"]  # never rewritten: answer offsets point into it
            questions = []
            for raw_question in raw_paragraph["qas"]:
                question = _question(raw_question, context)
                if question is None:
                    report.dropped_misaligned += 1
                    continue
                questions.append(question)
                report.impossible += question.impossible
            report.questions += len(questions)
            paragraphs.append(Paragraph(context, tuple(questions)))
        report.paragraphs += len(paragraphs)
        articles.append(Article(clean_title(raw["title"]), tuple(paragraphs)))
    report.articles = len(articles)
    return articles, report


# -- the split ------------------------------------------------------------------------------


@dataclass
class ArticleSplit:
    seed: int
    train: list[str]
    dev: list[str]  # for choosing training settings
    test: list[str]  # held out: reported, never tuned on
    source_sha256: str = ""
    note: str = "Split by article (paragraphs of one article share names and facts)."

    def to_json(self) -> dict:
        return asdict(self)

    def side(self, title: str) -> str:
        for name in ("train", "dev", "test"):
            if title in getattr(self, name):
                return name
        raise KeyError(title)


def split_articles(
    articles: list[Article], seed: int = 0, dev: int = 4, test: int = 8, source_sha256: str = ""
) -> ArticleSplit:
    titles = sorted(a.title for a in articles)
    if len(set(titles)) != len(titles):
        raise QuestionsFileError("Hay artículos con el mismo título: no se pueden separar")
    if dev + test >= len(titles):
        raise QuestionsFileError(
            f"{len(titles)} artículos no bastan para {dev} de desarrollo y {test} de prueba "
            "y al menos uno de entrenamiento"
        )
    rng = random.Random(seed)
    rng.shuffle(titles)
    return ArticleSplit(
        seed,
        sorted(titles[dev + test :]),
        sorted(titles[:dev]),
        sorted(titles[dev : dev + test]),
        source_sha256,
    )


# -- notes and question files ---------------------------------------------------------------


def article_note(article: Article) -> tuple[str, list[int]]:
    """The article as Markdown and the offset of each paragraph in it."""
    text = f"# {article.title}\n\n"
    offsets = []
    for paragraph in article.paragraphs:
        offsets.append(len(text))
        text += paragraph.context.strip("\n") + "\n\n"
    return text, offsets


@lru_cache(maxsize=4096)
def _sentence_spans(context: str) -> tuple[tuple[int, int], ...]:
    return tuple(sentence_spans(context))


def answer_sentence(context: str, start: int, length: int) -> str:
    """The sentence (pysbd, Spanish) that holds context[start:start+length]; the span's
    sentences joined when it crosses a boundary."""
    end = start + length
    spans = [(a, b) for a, b in _sentence_spans(context) if a < end and b > start]
    if not spans:
        return context[start:end]
    return context[spans[0][0] : spans[-1][1]].strip()


def question_rows(articles: list[Article], seed: int = 0) -> list[dict]:
    """Rows in the project's question format (corpus/questions.py), shuffled with the seed so
    that the first N rows of the file are a random sample. ``evidence`` is the sentence
    holding the answer: a passage that contains it contains the answer in context."""
    rows = []
    for article in articles:
        for paragraph in article.paragraphs:
            for q in paragraph.questions:
                row = {
                    "id": q.id,
                    "question": q.question,
                    "answers": list(q.answers),
                    "evidence": [],
                    "answerable": not q.impossible,
                    "section": article.title,
                }
                if not q.impossible:
                    row["evidence"] = [
                        answer_sentence(paragraph.context, q.start, len(q.answers[0]))
                    ]
                rows.append(row)
    random.Random(seed).shuffle(rows)
    return rows


def write_notes(articles: list[Article], folder: Path) -> list[Path]:
    """One Markdown note per article; the folder is rewritten whole (temp then rename)."""
    import shutil
    import tempfile

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    for article in articles:
        (staging / f"{article.slug}.md").write_text(article_note(article)[0], encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)
    return sorted(folder.glob("*.md"))


# -- training examples ----------------------------------------------------------------------


@dataclass(frozen=True)
class SquadExampleConfig:
    answers: int = 450  # answerable questions turned into answer examples
    abstentions: int = 150  # impossible questions -> the abstention sentence
    cot: int = 150  # answerable questions turned into cot examples (other questions)
    passages: int = 3  # as at inference (AssistantConfig.passages)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("answers", "abstentions", "cot"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 1 <= self.passages <= 10:
            raise SettingsError(f"passages must be in [1, 10], got {self.passages}")


@dataclass
class SquadBuildReport:
    answer_examples: int = 0
    abstain_examples: int = 0
    cot_examples: int = 0
    gold_not_chunked: int = 0  # questions whose paragraph no chunk covers (skipped)
    gold_retrieved_top_k: int = 0  # how often retrieval itself had the gold chunk in top k
    right_positions: dict[int, int] = field(default_factory=dict)


def _covering_chunk(chunks: list[Chunk], start: int, end: int) -> Chunk | None:
    """The chunk that holds [start, end) whole, else the one overlapping it most."""
    best, overlap = None, 0
    for chunk in chunks:
        shared = min(end, chunk.end) - max(start, chunk.start)
        if chunk.start <= start and end <= chunk.end:
            return chunk
        if shared > overlap:
            best, overlap = chunk, shared
    return best


def _cite_completion(kind: str, answer: str, sentence: str, n: int) -> str:
    if kind == "abstain":
        return " " + ABSTAIN
    if kind == "cot-abstain":
        return f"\n{NO_EVIDENCE_FACT}\n{answer_marker()} {ABSTAIN}"
    if kind == "cot":
        return f"\n- {sentence} [{n}]\n{answer_marker()} {answer} [{n}]"
    return f" {answer} [{n}]"


def squad_examples(
    index, articles: list[Article], config: SquadExampleConfig
) -> tuple[list[dict], SquadBuildReport]:
    """LoRA rows from the articles' questions, passages retrieved by ``index`` (a NotesIndex
    over exactly these articles, written by write_notes)."""
    rng = random.Random(config.seed)
    by_source: dict[str, list[Chunk]] = {}
    for chunk in index.chunks:
        by_source.setdefault(chunk.source, []).append(chunk)
    answerable, impossible = [], []
    for article in articles:
        _, offsets = article_note(article)
        for paragraph, offset in zip(article.paragraphs, offsets):
            for q in paragraph.questions:
                item = (article, paragraph, offset, q)
                (impossible if q.impossible else answerable).append(item)
    rng.shuffle(answerable)
    rng.shuffle(impossible)
    plan = (
        [(item, "answer") for item in answerable[: config.answers]]
        + [(item, "cot") for item in answerable[config.answers : config.answers + config.cot]]
        + [(item, "abstain") for item in impossible[: config.abstentions]]
    )
    report = SquadBuildReport()
    rows = []
    k = config.passages
    for (article, paragraph, offset, q), kind in plan:
        chunks = by_source.get(f"{article.slug}.md", [])
        if q.impossible:
            span = (offset, offset + len(paragraph.context))
        else:
            span = (offset + q.start, offset + q.start + len(q.answers[0]))
        gold = _covering_chunk(chunks, *span)
        if gold is None:
            report.gold_not_chunked += 1
            continue
        paragraph_span = (offset, offset + len(paragraph.context))
        hits = index.search(q.question, k=k + 3)
        report.gold_retrieved_top_k += any(h.chunk.id == gold.id for h in hits[:k])
        # Distractors: retrieved chunks that share no text with the question's paragraph
        # (a chunk overlapping it could hold the answer too).
        distractors = [
            h.chunk
            for h in hits
            if h.chunk.id != gold.id
            and not (
                h.chunk.source == gold.source
                and h.chunk.start < paragraph_span[1]
                and h.chunk.end > paragraph_span[0]
            )
        ][: k - 1]
        position = rng.randrange(len(distractors) + 1)
        shown = distractors[:position] + [gold] + distractors[position:]
        n = position + 1
        sentence = (
            "" if q.impossible else answer_sentence(paragraph.context, q.start, len(q.answers[0]))
        )
        answer = "" if q.impossible else (sentence if _WHY_HOW.search(q.question) else q.answers[0])
        strategy = COT if kind == "cot" else ZERO_SHOT
        rows.append(
            {
                "prompt": build_prompt(strategy, q.question, [Hit(c, 0.0) for c in shown], []),
                "completion": _cite_completion(kind, answer, sentence, n),
                "section": article.title,
                "kind": f"squad-{kind}",
                "question_id": q.id,
                "question": q.question,
                "cited": 0 if q.impossible else n,
                "source": "squad-es",
            }
        )
        if kind == "abstain":
            report.abstain_examples += 1
        elif kind == "cot":
            report.cot_examples += 1
        else:
            report.answer_examples += 1
        if not q.impossible:
            report.right_positions[n] = report.right_positions.get(n, 0) + 1
    return rows, report
