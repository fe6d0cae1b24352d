"""What the deck says about the student's studying, as plain dicts (JSON as they are), and
a PNG of reviews per day.

Days are calendar days in ``tz`` (the machine's local time zone unless given): a review at
23:30 counts for the day it was made, as the student lived it.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

from assistant.study.deck import Deck
from assistant.study.schedule import as_utc, utc_now
from corpus.files import atomic_write_bytes


def _local(moment: datetime, tz: tzinfo | None) -> datetime:
    return moment.astimezone(tz) if tz is not None else moment.astimezone()


def _end_of_day(day: date, tz: tzinfo | None) -> datetime:
    """The first instant of the next day in ``tz`` (cards due before it are due that day)."""
    midnight = datetime.combine(day + timedelta(days=1), time())
    return midnight.replace(tzinfo=tz) if tz is not None else midnight.astimezone()


def deck_stats(deck: Deck, now: datetime | None = None, tz: tzinfo | None = None) -> dict:
    """{"cards", "retired", "due_now", "due_today", "due_this_week", "reviews",
    "reviews_per_day": {"YYYY-MM-DD": n}, "retention_by_note": {source: {"reviews",
    "retained", "retention"}}}. This week = today and the six days after it; retention =
    the share of reviews not rated "again" (None for a note never reviewed)."""
    now = as_utc(now or utc_now())
    today = _local(now, tz).date()
    end_today, end_week = _end_of_day(today, tz), _end_of_day(today + timedelta(days=6), tz)
    everything = deck.cards(include_retired=True)
    active = [row for row in everything if row.retired is None]
    reviews = deck.reviews()
    per_day = Counter(_local(r.reviewed, tz).date().isoformat() for r in reviews)
    retention: dict[str, dict] = {}
    for source in sorted({row.card.source for row in active}):
        retention[source] = {"reviews": 0, "retained": 0, "retention": None}
    for record in reviews:
        note = retention.setdefault(record.source, {"reviews": 0, "retained": 0})
        note["reviews"] += 1
        note["retained"] += record.rating != "again"
    for note in retention.values():
        note["retention"] = (
            round(note["retained"] / note["reviews"], 4) if note["reviews"] else None
        )
    return {
        "cards": len(active),
        "retired": len(everything) - len(active),
        "due_now": sum(row.state.due <= now for row in active),
        "due_today": sum(row.state.due < end_today for row in active),
        "due_this_week": sum(row.state.due < end_week for row in active),
        "reviews": len(reviews),
        "reviews_per_day": dict(sorted(per_day.items())),
        "retention_by_note": retention,
    }


def plot_reviews_per_day(stats: dict, out: Path) -> Path:
    """A bar chart of ``stats["reviews_per_day"]`` (every day of the range, zeros too) as a
    PNG at ``out``, written atomically. Uses matplotlib's Agg canvas directly: no pyplot,
    no global backend switch under a running app."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = {date.fromisoformat(day): n for day, n in stats["reviews_per_day"].items()}
    days: list[date] = []
    if counts:
        first, last = min(counts), max(counts)
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    figure = Figure(figsize=(8, 3.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.bar([d.isoformat() for d in days], [counts.get(d, 0) for d in days], color="#4a7bb7")
    axes.set_title("Repasos por día")
    axes.set_ylabel("repasos")
    if not days:
        axes.text(
            0.5, 0.5, "Todavía no hay repasos", ha="center", va="center", transform=axes.transAxes
        )
        axes.set_yticks([])
        axes.set_xticks([])
    axes.tick_params(axis="x", labelrotation=45, labelsize=8)
    if days:  # with no ticks there is nothing to lay out (matplotlib would warn)
        figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    out = Path(out)
    atomic_write_bytes(out, buffer.getvalue())
    return out
