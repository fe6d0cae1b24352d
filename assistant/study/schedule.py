"""When a card is due next: the ``fsrs`` package (FSRS-6), behind a small typed wrapper.

The deck stores a card's FSRS memory (stability, difficulty), its learning step and its due
date as a ``ReviewState``; ``review`` hands them to ``fsrs.Scheduler.review_card`` and
returns the next state. Times are UTC-aware datetimes throughout (fsrs requires UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Literal, get_args

import fsrs
from fsrs.scheduler import DEFAULT_PARAMETERS

from corpus.errors import SettingsError

RatingName = Literal["again", "hard", "good", "easy"]
RATINGS: dict[str, fsrs.Rating] = {
    "again": fsrs.Rating.Again,
    "hard": fsrs.Rating.Hard,
    "good": fsrs.Rating.Good,
    "easy": fsrs.Rating.Easy,
}
# What the study loop's keys mean, and the Spanish names the student sees.
RATING_KEYS: dict[str, str] = {"1": "again", "2": "hard", "3": "good", "4": "easy"}
RATING_LABELS: dict[str, str] = {
    "again": "otra vez",
    "hard": "difícil",
    "good": "bien",
    "easy": "fácil",
}

StateName = Literal["new", "learning", "review", "relearning"]
STATES: tuple[str, ...] = ("new", "learning", "review", "relearning")
_FSRS_STATES = {
    "learning": fsrs.State.Learning,
    "review": fsrs.State.Review,
    "relearning": fsrs.State.Relearning,
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise SettingsError(f"datetimes must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC)


def parse_rating(text: str) -> RatingName:
    """ "good" or "3" -> "good"; anything else is a one-line Spanish error."""
    name = RATING_KEYS.get(text.strip(), text.strip().lower())
    if name not in RATINGS:
        raise SettingsError(f"Valoración no válida: {text!r}; usa again, hard, good o easy (o 1-4)")
    return name  # type: ignore[return-value]


@dataclass(frozen=True)
class ScheduleConfig:
    """The FSRS scheduler's settings; the deck keeps them in its ``scheduler`` table."""

    # FSRS's default: a card is due when its predicted recall falls to 90%. Higher means
    # more reviews for fewer lapses.
    desired_retention: float = 0.9
    # FSRS-6's default weights (21 values), fitted by its authors on many users' reviews;
    # fsrs.Optimizer can fit them to one student's log once it holds enough reviews.
    parameters: tuple[float, ...] = DEFAULT_PARAMETERS
    # Anki's default steps: a new card comes back after 1 and 10 minutes before it
    # graduates to days; a lapsed one after 10 minutes.
    learning_steps_minutes: tuple[float, ...] = (1.0, 10.0)
    relearning_steps_minutes: tuple[float, ...] = (10.0,)
    maximum_interval_days: int = 36500
    # A little random spread keeps cards learnt together from falling due together.
    enable_fuzzing: bool = True
    # Anki's default: 20 new cards a day, in note order; the rest wait for later days.
    new_per_day: int = 20
    # Anki's learn-ahead limit: when nothing else is due, a learning card due within this
    # many minutes is shown now rather than ending the session.
    learn_ahead_minutes: float = 20.0

    def __post_init__(self) -> None:
        if not 0.0 < self.desired_retention < 1.0:
            raise SettingsError(
                f"desired_retention must be in (0, 1), got {self.desired_retention}"
            )
        if len(self.parameters) != len(DEFAULT_PARAMETERS):
            raise SettingsError(
                f"parameters must hold {len(DEFAULT_PARAMETERS)} FSRS-6 weights, "
                f"got {len(self.parameters)}"
            )
        for name in ("learning_steps_minutes", "relearning_steps_minutes"):
            if any(step <= 0 for step in getattr(self, name)):
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")
        if self.maximum_interval_days < 1:
            raise SettingsError(
                f"maximum_interval_days must be >= 1, got {self.maximum_interval_days}"
            )
        if self.new_per_day < 0:
            raise SettingsError(f"new_per_day must be >= 0, got {self.new_per_day}")
        if self.learn_ahead_minutes < 0:
            raise SettingsError(f"learn_ahead_minutes must be >= 0, got {self.learn_ahead_minutes}")

    def scheduler(self) -> fsrs.Scheduler:
        try:
            return fsrs.Scheduler(
                parameters=self.parameters,
                desired_retention=self.desired_retention,
                learning_steps=[timedelta(minutes=m) for m in self.learning_steps_minutes],
                relearning_steps=[timedelta(minutes=m) for m in self.relearning_steps_minutes],
                maximum_interval=self.maximum_interval_days,
                enable_fuzzing=self.enable_fuzzing,
            )
        except ValueError as err:  # a weight out of fsrs's bounds
            raise SettingsError(f"parameters: {err}".replace("\n", "; ")) from None

    def to_dict(self) -> dict:
        return {
            "desired_retention": self.desired_retention,
            "parameters": list(self.parameters),
            "learning_steps_minutes": list(self.learning_steps_minutes),
            "relearning_steps_minutes": list(self.relearning_steps_minutes),
            "maximum_interval_days": self.maximum_interval_days,
            "enable_fuzzing": self.enable_fuzzing,
            "new_per_day": self.new_per_day,
            "learn_ahead_minutes": self.learn_ahead_minutes,
            "fsrs_version": _fsrs_version(),
        }

    @classmethod
    def from_dict(cls, record: dict) -> ScheduleConfig:
        fields = {k: v for k, v in record.items() if k in cls.__dataclass_fields__}
        for name in ("parameters", "learning_steps_minutes", "relearning_steps_minutes"):
            if name in fields:
                fields[name] = tuple(fields[name])
        return cls(**fields)


def _fsrs_version() -> str:
    from importlib.metadata import version

    return version("fsrs")


@dataclass(frozen=True)
class ReviewState:
    """A card's place in the schedule. ``new``: never reviewed (FSRS's first learning
    step, with no memory yet)."""

    state: StateName
    due: datetime
    step: int | None = 0  # learning or relearning step; None in review
    stability: float | None = None  # days for recall to fall to 90%
    difficulty: float | None = None  # 1 (easy) .. 10 (hard)
    last_review: datetime | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise SettingsError(f"state must be one of {STATES}, got {self.state!r}")
        if self.due.tzinfo is None:
            raise SettingsError(f"due must be timezone-aware, got {self.due!r}")
        if self.state == "new" and self.stability is not None:
            raise SettingsError(f"a new card has no stability yet, got {self.stability}")
        if self.state != "new" and (self.stability is None or self.difficulty is None):
            raise SettingsError(
                f"a {self.state} card needs stability and difficulty, got "
                f"stability={self.stability}, difficulty={self.difficulty}"
            )

    @classmethod
    def new(cls, due: datetime) -> ReviewState:
        return cls(state="new", due=as_utc(due))

    def to_fsrs(self) -> fsrs.Card:
        state = _FSRS_STATES.get(self.state, fsrs.State.Learning)
        return fsrs.Card(
            card_id=0,  # fsrs only echoes it into its log; the deck keys cards itself
            state=state,
            step=self.step,
            stability=self.stability,
            difficulty=self.difficulty,
            due=as_utc(self.due),
            last_review=as_utc(self.last_review) if self.last_review else None,
        )

    @classmethod
    def from_fsrs(cls, card: fsrs.Card) -> ReviewState:
        name = {v: k for k, v in _FSRS_STATES.items()}[card.state]
        return cls(
            state=name,  # type: ignore[arg-type]
            due=as_utc(card.due),
            step=card.step,
            stability=card.stability,
            difficulty=card.difficulty,
            last_review=as_utc(card.last_review) if card.last_review else None,
        )

    def interval(self) -> timedelta:
        """Time from the last review to the due date (zero before the first review)."""
        return self.due - self.last_review if self.last_review else timedelta(0)

    def to_dict(self) -> dict:
        """Every field as JSON (what the review log keeps to undo a review exactly)."""
        return {
            "state": self.state,
            "due": self.due.isoformat(),
            "step": self.step,
            "stability": self.stability,
            "difficulty": self.difficulty,
            "last_review": self.last_review.isoformat() if self.last_review else None,
        }

    @classmethod
    def from_dict(cls, record: dict) -> ReviewState:
        last = record.get("last_review")
        return cls(
            state=record["state"],
            due=datetime.fromisoformat(record["due"]),
            step=record.get("step"),
            stability=record.get("stability"),
            difficulty=record.get("difficulty"),
            last_review=datetime.fromisoformat(last) if last else None,
        )


def review(
    state: ReviewState, rating: RatingName, now: datetime, scheduler: fsrs.Scheduler
) -> ReviewState:
    """The state after rating the card at ``now``."""
    if rating not in RATINGS:
        raise SettingsError(f"rating must be one of {tuple(RATINGS)}, got {rating!r}")
    card, _log = scheduler.review_card(
        state.to_fsrs(), RATINGS[rating], review_datetime=as_utc(now)
    )
    return ReviewState.from_fsrs(card)


def preview(
    state: ReviewState, now: datetime, config: ScheduleConfig
) -> dict[RatingName, timedelta]:
    """What each rating would give the card at ``now``: the time until it is due again,
    as FSRS computes it without fuzz (the interval a review gets may land a few percent
    off, as in Anki, whose buttons also show the interval before fuzz)."""
    scheduler = replace(config, enable_fuzzing=False).scheduler()
    now = as_utc(now)
    return {name: review(state, name, now, scheduler).due - now for name in get_args(RatingName)}


def interval_text(interval: timedelta) -> str:
    """An interval as Anki's buttons write it, in Spanish: "1 min", "10 min", "1,5 h",
    "3 d", "2 mes", "1,2 a" (months of 30 days, years of 365)."""
    minutes = interval.total_seconds() / 60
    days = minutes / (24 * 60)
    if minutes < 1:
        return "< 1 min"
    if minutes < 60:
        return f"{int(minutes + 0.5)} min"
    if days < 1:
        return f"{_decimal(minutes / 60)} h"
    if days < 30:
        return f"{int(days + 0.5)} d"
    if days < 365:
        return f"{_decimal(days / 30)} mes"
    return f"{_decimal(days / 365)} a"


def _decimal(value: float) -> str:
    """One decimal, with a comma, dropped when it is zero: 2.0 -> "2", 1.46 -> "1,5"."""
    text = f"{value:.1f}".removesuffix(".0")
    return text.replace(".", ",")


def day_start(now: datetime, tz: tzinfo | None = None) -> datetime:
    """Midnight of ``now``'s day in ``tz`` (the machine's time zone unless given), in UTC:
    where "today" begins for the daily new-card limit."""
    local = now.astimezone(tz) if tz is not None else now.astimezone()
    midnight = datetime.combine(local.date(), time())
    return as_utc(midnight.replace(tzinfo=tz) if tz is not None else midnight.astimezone())


def replay(
    reviews: list[tuple[RatingName, datetime]], start: ReviewState, scheduler: fsrs.Scheduler
) -> list[ReviewState]:
    """The state after each of ``reviews`` (rating, time; in time order) replayed from
    ``start``: what the whole history implies, wherever each review was made. Stability,
    difficulty and step follow from the ratings and times alone; a due date past 2.5 days
    carries the scheduler's fuzz, so it may differ from one replay to the next."""
    states = []
    state = start
    for rating, when in reviews:
        state = review(state, rating, when, scheduler)
        states.append(state)
    return states
