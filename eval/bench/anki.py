"""Anki both ways (issue 28): the time to export the default deck to Anki with its
schedule and history, and to import reviews made in Anki back.

    python -m eval.bench.anki [--notes corpus/notes] [--days 60] [--repeats 5] [--seed 0]
        [--out docs/results/anki.json]

The deck: the cards of ``--notes`` (``build_cards``) in a new deck, every card studied
for ``--days`` days before now as a student would (each review at the card's due time,
ratings drawn again 10%, hard 15%, good 60%, easy 15%, seeded), so the log holds several
reviews a card and the cards sit in every state.

- ``export``: ``export.export_deck`` of that deck to an .apkg (genanki, then the schedule
  and the revlog written into its collection, zipped, written atomically).
- ``import``: the exported package changed as Anki changes it after a session on a phone:
  one new review of every card, a day after its due time (revlog rows, and the card's ivl
  and due), then ``anki_import.import_anki`` into a copy of the deck: read the package,
  refresh the deck's backup, merge (every card replayed with FSRS), one transaction.
- ``reimport``: the same package again into the merged deck: nothing to add, every review
  found already in the log (the cost of importing a file twice).

Each figure is the median of ``--repeats`` runs, each into a fresh copy of the deck (the
copy not timed). With ``--anki``, and the ``anki`` package importable (it is not a
requirement; ``pip install --target /tmp/anki-site anki==26.9.3`` then
``PYTHONPATH=/tmp/anki-site``), the exported package is also imported into a new Anki
collection with FSRS on, ten cards are answered there, and Anki's own export (its current
format, collection.anki21b) is imported back: how many cards and reviews Anki took, and how
far the deck's replayed memory state lands from Anki's for the cards answered there.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
import zipfile
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

from assistant.study.anki_import import import_anki
from assistant.study.cards import build_cards
from assistant.study.deck import Deck
from assistant.study.export import export_deck
from assistant.study.schedule import RatingName, utc_now
from corpus.loader import load_notes
from corpus.notebooks import DEFAULT_NOTES
from eval.harness import emit

ROOT = Path(__file__).resolve().parents[2]
RATINGS: tuple[RatingName, ...] = ("again", "hard", "good", "easy")
WEIGHTS = (0.10, 0.15, 0.60, 0.15)


def make_deck(path: Path, notes: Path, days: int, seed: int) -> dict:
    """A deck of the notes' cards, each studied for ``days`` days up to now."""
    rng = random.Random(seed)
    random.seed(seed)  # fsrs draws its interval fuzz from the global generator
    now = utc_now()
    cards = build_cards(load_notes(notes).notes)
    with Deck.open(path, create=True) as deck:
        deck.sync(cards, now - timedelta(days=days + 1))
        for row in deck.cards():
            when = now - timedelta(days=days, minutes=rng.randint(0, 24 * 60))
            while when < now:
                rating = rng.choices(RATINGS, WEIGHTS)[0]
                after = deck.review(row.card.id, rating, when, rng.randint(2000, 30000))
                when = max(after.state.due, when + timedelta(minutes=1))
        return {"cards": len(deck.cards()), "reviews": len(deck.reviews())}


def review_in_anki(package: Path, out: Path) -> int:
    """``package`` after a session in Anki: every card answered once more (good, or again
    one time in five), a day after its due time; returns the revlog rows added."""
    with tempfile.TemporaryDirectory() as folder:
        collection = Path(folder) / "collection.anki2"
        with zipfile.ZipFile(package) as archive:
            collection.write_bytes(archive.read("collection.anki2"))
        connection = sqlite3.connect(collection)
        latest = {
            cid: last
            for cid, last in connection.execute("SELECT cid, max(id) FROM revlog GROUP BY cid")
        }
        (crt,) = connection.execute("SELECT crt FROM col").fetchone()
        rows = []
        cards = connection.execute("SELECT id, queue, due FROM cards").fetchall()
        for index, (cid, queue, due) in enumerate(cards):
            due_seconds = due if queue == 1 else crt + due * 86_400
            # a day after it fell due, one card a second (revlog ids are unique)
            when = max(due_seconds * 1000, latest.get(cid, 0) + 60_000) + 86_400_000
            when += index * 1000
            ease = 1 if cid % 5 == 0 else 3
            rows.append((when, cid, -1, ease, 7, 3, 500, 6000, 1))
        connection.executemany("INSERT INTO revlog VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        connection.execute("UPDATE cards SET ivl = 7, due = due + 7 WHERE queue = 2")
        connection.commit()
        connection.close()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(collection, "collection.anki2")
            archive.writestr("media", "{}")
    return len(rows)


def timed(run, repeats: int) -> tuple[float, object]:
    """The median seconds of ``repeats`` calls of ``run``, and what the last returned."""
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return round(statistics.median(seconds), 4), result


def bench(work: Path, notes: Path, days: int, repeats: int, seed: int) -> dict:
    deck_path = work / "deck.sqlite"
    made = make_deck(deck_path, notes, days, seed)
    package = work / "mazo.apkg"

    def export() -> int:
        with Deck.open(deck_path) as deck:
            return export_deck(deck, package)

    export_seconds, _ = timed(export, repeats)
    changed = work / "desde_anki.apkg"
    added_in_anki = review_in_anki(package, changed)

    def fresh_import() -> dict:
        copy = work / "copy.sqlite"
        shutil.copy(deck_path, copy)
        Path(f"{copy}.bak").unlink(missing_ok=True)
        start = time.perf_counter()
        with Deck.open(copy) as deck:
            report = import_anki(deck, changed)
        return {"seconds": time.perf_counter() - start, **report.to_dict()}

    imports = [fresh_import() for _ in range(repeats)]
    merged = work / "copy.sqlite"

    def reimport() -> dict:
        with Deck.open(merged) as deck:
            return import_anki(deck, changed).to_dict()

    reimport_seconds, again = timed(reimport, repeats)
    return {
        "deck": made,
        "package_bytes": package.stat().st_size,
        "export_seconds": export_seconds,
        "reviews_added_in_anki": added_in_anki,
        "import_seconds": round(statistics.median(run["seconds"] for run in imports), 4),
        "import": {k: v for k, v in imports[-1].items() if k != "seconds"},
        "reimport_seconds": reimport_seconds,
        "reimport": again,
    }


def real_anki(work: Path, notes: Path, seed: int) -> dict:
    """Our package through the ``anki`` package with FSRS on, and Anki's export back."""
    from anki import import_export_pb2
    from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
    from anki.scheduler.v3 import CardAnswer

    deck_path = work / "real.sqlite"
    make_deck(deck_path, notes, 60, seed)
    package = work / "real.apkg"
    with Deck.open(deck_path) as deck:
        export_deck(deck, package)
        ours = {row.card.id: row.state for row in deck.cards()}
        reviews = len(deck.reviews())
    collection = Collection(str(work / "anki" / "collection.anki2"))
    try:
        collection.set_config("fsrs", True)
        options = ImportAnkiPackageOptions(with_scheduling=True)
        collection.import_anki_package(
            ImportAnkiPackageRequest(package_path=str(package), options=options)
        )
        (deck_id,) = [d.id for d in collection.decks.all_names_and_ids() if d.name != "Default"]
        collection.decks.select(deck_id)
        memory_kept = 0
        for cid in collection.find_cards(""):
            card = collection.get_card(cid)
            state = ours[card.note().guid]
            if card.memory_state and state.stability:
                memory_kept += abs(card.memory_state.stability - state.stability) < 1e-3
        taken = {
            "deck_reviews": reviews,
            "cards": collection.card_count(),
            "revlog": collection.db.scalar("SELECT count() FROM revlog"),
            "memory_state_as_exported": memory_kept,
        }
        answered: dict[str, int] = {}
        while len(answered) < 10:  # ten cards due in Anki today, each answered once
            fresh = [
                queued
                for queued in collection.sched.get_queued_cards(fetch_limit=50).cards
                if queued.card.id not in answered.values()
            ]
            if not fresh:
                break
            card = collection.get_card(fresh[0].card.id)
            card.start_timer()
            collection.sched.answer_card(
                collection.sched.build_answer(
                    card=card, states=fresh[0].states, rating=CardAnswer.GOOD
                )
            )
            answered[card.note().guid] = card.id
        back = work / "desde_anki.apkg"
        collection.export_anki_package(
            out_path=str(back),
            options=import_export_pb2.ExportAnkiPackageOptions(
                with_scheduling=True, with_media=False, legacy=False
            ),
            limit=None,
        )
        memory = {guid: collection.get_card(cid).memory_state for guid, cid in answered.items()}
    finally:
        collection.close()
    with Deck.open(deck_path) as deck:
        report = import_anki(deck, back)
        gaps = [
            abs(deck.get(guid).state.stability - state.stability) / state.stability
            for guid, state in memory.items()
        ]
        difficulty = [
            abs(deck.get(guid).state.difficulty - state.difficulty)
            for guid, state in memory.items()
        ]
    return {
        "anki_version": version("anki"),
        "anki_took": taken,
        "answered_in_anki": len(answered),
        "import_back": report.to_dict(),
        # Anki counts the days since the last review by its day boundary (4 am), fsrs by
        # whole 24 hours: a review 1-2 days after the last can differ by a day, and so
        # its new stability; the difficulty does not depend on it.
        "stability_relative_gap_median": round(statistics.median(gaps), 4) if gaps else None,
        "stability_relative_gap_max": round(max(gaps), 4) if gaps else None,
        "difficulty_gap_max": round(max(difficulty), 4) if difficulty else None,
    }


def _shown(path: Path) -> str:
    """A path as the result shows it: inside the repository, relative to it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=Path, default=DEFAULT_NOTES)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--anki", action="store_true", help="also through the anki package")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.days < 1:
        parser.error("--repeats y --days deben ser al menos 1")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        report: dict = {
            "config": {
                "notes": _shown(args.notes),
                "days": args.days,
                "repeats": args.repeats,
                "seed": args.seed,
                "rating_weights": dict(zip(RATINGS, WEIGHTS, strict=True)),
                "versions": {name: version(name) for name in ("fsrs", "genanki", "zstandard")},
                "revlog_factor": "100 + 1000 * (d - 1) / 9",
                "same_review_within_seconds": 1,
                "cpus": os.cpu_count(),
                # Other work on the machine slows every figure: comparable within one run.
                "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            },
            **bench(work, args.notes, args.days, args.repeats, args.seed),
        }
        if args.anki:
            (work / "anki").mkdir()
            report["real_anki"] = real_anki(work, args.notes, args.seed)
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
