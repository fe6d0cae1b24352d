"""What the deck says about the student's studying, as plain dicts (JSON as they are), and
a PNG of reviews per day.

Days are calendar days in ``tz`` (the machine's local time zone unless given): a review at
23:30 counts for the day it was made, as the student lived it. What is due counts new cards
as the study tab and the CLI will show them: as many as the daily limit lets in.
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
    """{"cards", "retired", "new_today", "due_now", "due_today", "due_this_week",
    "reviews", "reviews_per_day": {"YYYY-MM-DD": n}, "retention_by_note": {source:
    {"reviews", "retained", "retention"}}}. This week = today and the six days after it;
    new cards count as the daily limit lets them in (``new_today``: how many more today);
    retention = the share of reviews not rated "again" (None for a note never reviewed)."""
    now = as_utc(now or utc_now())
    today = _local(now, tz).date()
    end_today, end_week = _end_of_day(today, tz), _end_of_day(today + timedelta(days=6), tz)
    everything = deck.cards(include_retired=True)
    active = [row for row in everything if row.retired is None]
    studied = [row for row in active if row.state.state != "new"]
    waiting = len(active) - len(studied)  # new cards: due from the day they were added
    new_today = min(waiting, deck.new_quota(now, tz))
    new_this_week = min(waiting, new_today + 6 * deck.config.new_per_day)
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
        "new_today": new_today,
        "due_now": sum(row.state.due <= now for row in studied) + new_today,
        "due_today": sum(row.state.due < end_today for row in studied) + new_today,
        "due_this_week": sum(row.state.due < end_week for row in studied) + new_this_week,
        "reviews": len(reviews),
        "reviews_per_day": dict(sorted(per_day.items())),
        "retention_by_note": retention,
    }


PLOT_DAYS = 30  # the chart's window: the last month, today included


def plot_window(today: date, days: int = PLOT_DAYS) -> list[date]:
    """The chart's days, oldest first, ending ``today``."""
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


def plot_reviews_per_day(stats: dict, out: Path, today: date | None = None) -> Path:
    """A bar chart of the reviews of each of the last PLOT_DAYS days (``today`` included,
    zeros too) as a PNG at ``out``, written atomically; a date under every fifth bar, as
    "dd/mm", level. Uses matplotlib's Agg canvas directly: no pyplot, no global backend
    switch under a running app."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = {date.fromisoformat(day): n for day, n in stats["reviews_per_day"].items()}
    days = plot_window(today or date.today())
    figure = Figure(figsize=(8, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.bar(range(len(days)), [counts.get(d, 0) for d in days], width=0.8, color="#4a7bb7")
    axes.set_title(f"Repasos por día (últimos {len(days)} días)")
    axes.set_ylabel("repasos")
    ticks = list(range(len(days) - 1, -1, -5))[::-1]  # today, and every fifth day before
    axes.set_xticks(ticks, [days[i].strftime("%d/%m") for i in ticks])
    axes.tick_params(axis="x", labelsize=9)
    axes.set_xlim(-0.7, len(days) - 0.3)
    if not any(counts.get(d, 0) for d in days):
        axes.text(
            0.5,
            0.5,
            "Ningún repaso en estos días",
            ha="center",
            va="center",
            transform=axes.transAxes,
        )
        axes.set_yticks([])
    else:
        axes.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    out = Path(out)
    atomic_write_bytes(out, buffer.getvalue())
    return out
