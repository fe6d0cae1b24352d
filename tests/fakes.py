"""Offline fakes: a deterministic embedder that counts what it embeds, a scripted
generator, a word-overlap support checker and a word-overlap evidence selector."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from corpus.text import analyse


class HashEmbedder:
    """Bag of analysed words hashed into signed buckets: similar words -> similar vectors.

    Deterministic and instant; good enough that a chunk's own text is its nearest vector.
    """

    name = "fake-hash"
    dim = 256

    def __init__(self) -> None:
        self.passages_embedded = 0
        self.queries_embedded = 0

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for token in analyse(text) or ["_empty_"]:
            digest = hashlib.md5(token.encode("utf-8")).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dim
            vector[bucket] += 1.0 if digest[4] % 2 else -1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.passages_embedded += len(texts)
        return (
            np.vstack([self._vector(t) for t in texts])
            if texts
            else np.zeros((0, self.dim), np.float32)
        )

    def embed_query(self, text: str) -> np.ndarray:
        self.queries_embedded += 1
        return self._vector(text)


class ScriptedGenerator:
    """A generator that answers from a script and records every prompt it is given.

    ``script`` is a string (always that answer) or a callable prompt -> answer.
    """

    name = "fake-gen"

    def __init__(self, script="La atención pondera los tokens [1].", adapter=None) -> None:
        self.script = script
        self.adapter = adapter
        self.prompts: list[str] = []
        self.configs: list = []

    @property
    def context_window(self) -> int:
        return 8192

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, prompt, config):
        self.prompts.append(prompt)
        self.configs.append(config)
        text = self.script(prompt) if callable(self.script) else self.script
        for stop in config.stop:
            text = text.split(stop)[0]
        words = text.split(" ")
        for i, word in enumerate(words[: config.max_new_tokens]):
            yield word if i == 0 else " " + word


class OverlapSelector:
    """The selector contract without a model: a unit scores half the share of the
    question's content stems in its text, a quarter of the share in its heading, and a
    quarter over its passage's rank; the no-answer score is 1 - the best share of stems in
    a unit and its heading together. Deterministic, ties in passage order."""

    name = "fake-overlap"

    def select(self, question, hits, query_vector):
        from assistant.selection import RankedUnit, Selection, candidates

        units = candidates(hits)
        if not units:
            return Selection([], 1.0)
        words = set(analyse(question)) or {""}

        def share(text: str) -> float:
            return len(words & set(analyse(text))) / len(words)

        scores = [0.5 * share(u.text) + 0.25 * share(u.heading) + 0.25 / u.n for u in units]
        order = sorted(range(len(units)), key=lambda i: -scores[i])  # stable: passage order
        ranked = [
            RankedUnit(units[i].n, units[i].index, units[i].text, units[i].heading, scores[i])
            for i in order
        ]
        best = max(share(f"{u.heading} {u.text}") for u in units)
        return Selection(ranked, round(1.0 - best, 4))


def writes_every_form():
    """Evidence settings under which the writer answers every question form: the scripted
    generator is what these tests watch, whatever the question asks."""
    from assistant.selection.evidence import ANSWER_FORMS, EvidenceConfig

    return EvidenceConfig(written_forms=ANSWER_FORMS)


def open_policy(**overrides):
    """An abstention policy that never abstains on its own thresholds: the shipped ones
    are tuned for e5's cosine scale and the trained selector, not the fake embedder's."""
    from assistant.abstain import AbstentionPolicy

    settings = {"min_similarity": 0.0, "min_coverage": 0.0, "max_no_answer": 1.0}
    return AbstentionPolicy(**{**settings, **overrides})


class OverlapChecker:
    """Support = share of the sentence's content words found in the passage (no model)."""

    threshold = 0.5
    claim_threshold = None

    def __init__(self) -> None:
        self.embedder = HashEmbedder()  # the quiz's grader reads vectors too

    def scores(self, sentences, passages):
        matrix = np.zeros((len(sentences), len(passages)), dtype=np.float32)
        for i, sentence in enumerate(sentences):
            words = set(analyse(sentence))
            for j, passage in enumerate(passages):
                found = words & set(analyse(passage))
                matrix[i, j] = len(found) / len(words) if words else 0.0
        return matrix

    def supported(self, score: float) -> bool:
        return score >= self.threshold


# A child that builds with the fake embedder and hangs once the vectors are half-written:
# it holds the build lock and has a staging folder on disk (killed, or raced against).
HANGING_BUILD = """
import sys, time
sys.path.insert(0, {root!r})
from index import embedders
from index.config import IndexConfig
from tests.fakes import HashEmbedder
import index.store as store
embedders.EMBEDDERS["fake-hash"] = HashEmbedder
real_write = store.faiss.write_index
def write_then_hang(index, path):
    real_write(index, path)
    print("WRITING", flush=True)
    time.sleep(120)
store.faiss.write_index = write_then_hang
store.build_index({notes!r}, {index!r}, index_config=IndexConfig(embedder="fake-hash"))
"""

# `python -m assistant export-gguf` that stops for good once its partial file is open, for
# the fault rows that kill it there. The model's weights are zeros and only its 1-D
# tensors are written: the fault is the files an export leaves, not the model. The base
# GGUF is really assembled into the scratch folder (~240 MB), as a real export does.
HANGING_EXPORT = """
import sys, time
sys.path.insert(0, {root!r})
import gguf, numpy as np
import assistant.training.gguf_export as export
from assistant.cli.main import main
readers = []
real_init = gguf.GGUFReader.__init__
def remember(self, *args, **kwargs):
    real_init(self, *args, **kwargs)
    self.tensors = [t for t in self.tensors if len(t.shape) == 1]
    readers.append(self)
gguf.GGUFReader.__init__ = remember
export.merged_state = lambda adapter: {{
    export.hf_name(t.name): np.zeros(int(t.n_elements), np.float32) for t in readers[-1].tensors
}}
def hang(self, *args, **kwargs):
    print("WRITING", flush=True)
    time.sleep(600)
gguf.GGUFWriter.write_tensors_to_file = hang
sys.exit(main(["export-gguf", "--out", {out!r}, "--adapter", "none"]))
"""

# The app's experiment child (`python -m eval.experiment.worker`) with its grid scripted:
# the real worker (its priority, its protocol, its process) around a run_experiment that
# "finishes" (one progress step, a plot, the published results with two means changed,
# and what it was asked in asked.json), "refuses" (a settings error, as the real one
# does for repeated models) or runs "endless"ly at 100% of a core until it is killed.
SCRIPTED_EXPERIMENT = """
import json, shutil, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
import eval.experiment.grid as experiment
from eval.experiment import worker as experiment_worker
from corpus.errors import SettingsError
MODE = {mode!r}
def scripted(questions, strategies, models, seeds, limit, *, out, index_dir, progress, **kw):
    out = Path(out)
    (out / "asked.json").write_text(json.dumps([strategies, models, seeds, limit, index_dir]))
    if MODE == "refuses":
        raise SettingsError("hay modelos repetidos: gemma-270m, gemma-270m")
    if MODE == "endless":
        done = 0
        while True:
            done += 1
            progress(done, 10**6, "zero-shot__gemma-270m__seed0")
            began = time.perf_counter()
            while time.perf_counter() - began < 0.2:
                pass
    progress(1, 2, "zero-shot__gemma-270m__seed0")
    (out / "metrics.png").write_bytes(b"\\x89PNG\\r\\n\\x1a\\n")
    results = json.loads(Path({published!r}).read_text())
    first = results["cells"][0]["metrics"]
    first["token_f1"] = {{**first["token_f1"], "mean": 0.41234, "stderr": 0.05}}
    first["total_ms"] = {{**first["total_ms"], "mean": 5321.0, "stderr": 120.0}}
    (out / "results.json").write_text(json.dumps(results))
    return results
experiment.run_experiment = scripted
sys.exit(experiment_worker.main(sys.argv[1:]))
"""


def scripted_worker(mode: str):
    """An ExperimentWorker whose child runs SCRIPTED_EXPERIMENT in ``mode``."""
    import sys

    from eval.experiment.worker import ExperimentWorker

    root = Path(__file__).resolve().parents[1]
    published = root / "docs" / "experiments" / "dev" / "results.json"
    script = SCRIPTED_EXPERIMENT.format(root=str(root), mode=mode, published=str(published))
    return ExperimentWorker(command=[sys.executable, "-c", script])
