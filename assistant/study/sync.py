"""How a rebuild of the cards maps onto the deck: a pure plan, applied by ``Deck.sync`` in
one transaction.

- A card whose id the deck knows is the same card (same kind, same note text): it keeps
  its state; its place in the note (offsets, chunk, heading) is refreshed.
- An unknown id that matches a card no longer built by (kind, source, front) is that card
  edited (same question, new answer text): it takes the new id and text and keeps its
  schedule and reviews. Among several matches, an active card beats a retired one, then
  the nearest in the note (two "¿Qué es el encoder?" sections are told apart so).
- Any other new id is a new card; a known card no longer built is retired: kept with its
  reviews, never due, and back if its text comes back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from assistant.study.cards import Card
from assistant.study.records import DeckCard, SyncReport
from corpus.errors import SettingsError


@dataclass(frozen=True)
class SyncPlan:
    inserts: tuple[tuple[int, Card], ...]  # (position in the build, card)
    rewrites: tuple[tuple[int, Card, str], ...]  # (position, card, id of the row it takes)
    retire: tuple[str, ...]  # ids of active cards no longer built
    report: SyncReport


def plan_sync(known: Iterable[DeckCard], cards: list[Card]) -> SyncPlan:
    """The writes that make a deck holding ``known`` hold exactly ``cards``."""
    ids = [card.id for card in cards]
    if len(set(ids)) != len(ids):
        raise SettingsError("cards must have distinct ids (build_cards guarantees it)")
    incoming = set(ids)
    rows = {row.card.id: row for row in known}
    gone: dict[tuple[str, str, str], list[DeckCard]] = {}
    for row in rows.values():
        if row.card.id not in incoming:
            gone.setdefault((row.card.kind, row.card.source, row.card.front), []).append(row)

    inserts: list[tuple[int, Card]] = []
    rewrites: list[tuple[int, Card, str]] = []
    updated = 0
    for position, card in enumerate(cards):
        old = rows.get(card.id)
        if old is not None:
            text_changed = (old.card.front, old.card.back, old.card.full_back) != (
                card.front,
                card.back,
                card.full_back,
            )
            if text_changed or old.retired:
                updated += 1
            if text_changed or old.retired or old.card != card:
                rewrites.append((position, card, card.id))
            continue
        candidates = gone.get((card.kind, card.source, card.front), [])
        if candidates:
            match = min(
                candidates,
                key=lambda row: (row.retired is not None, abs(row.card.start - card.start)),
            )
            candidates.remove(match)
            rewrites.append((position, card, match.card.id))
            updated += 1
        else:
            inserts.append((position, card))
    retire = tuple(row.card.id for group in gone.values() for row in group if row.retired is None)
    report = SyncReport(cards=len(cards), new=len(inserts), updated=updated, retired=len(retire))
    return SyncPlan(tuple(inserts), tuple(rewrites), retire, report)
