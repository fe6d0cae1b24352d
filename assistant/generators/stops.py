"""Stop strings on streamed text, shared by every backend: the answer ends before the
first stop string, which never reaches the caller, and a tail that could still grow into
one is held back until it cannot."""

from __future__ import annotations

from collections.abc import Generator, Iterator


def clip_stops(pieces: Generator[str, None, None], stops: tuple[str, ...]) -> Iterator[str]:
    """``pieces`` up to the first stop string (excluded); a tail that could still grow
    into one is held back until it cannot. Closes ``pieces`` (a backend's stream) when a
    stop string ends the answer early."""
    text, emitted = "", 0  # emitted: characters of ``text`` already yielded
    try:
        for piece in pieces:
            text += piece
            cut = first_stop(text, stops, max(0, emitted - longest(stops)))
            if cut is not None:
                if cut > emitted:
                    yield text[emitted:cut]
                return
            safe = len(text) - stop_prefix_overlap(text, stops)
            if safe > emitted:
                yield text[emitted:safe]
                emitted = safe
        if len(text) > emitted:
            yield text[emitted:]
    finally:
        pieces.close()


def longest(stops: tuple[str, ...]) -> int:
    return max((len(stop) for stop in stops), default=0)


def first_stop(text: str, stops: tuple[str, ...], start: int) -> int | None:
    """Index in ``text`` where the earliest stop string begins (searching from ``start``)."""
    found = [index for stop in stops if (index := text.find(stop, start)) != -1]
    return min(found) if found else None


def stop_prefix_overlap(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest tail of ``text`` that is a proper prefix of a stop string."""
    best = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:size]):
                best = size
                break
    return best
