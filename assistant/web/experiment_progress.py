"""The experiment grid's progress as the app shows it: cells done of the total, answers
done, and an estimate of the time left.

``GridProgress`` takes eval/experiment/grid.py's per-answer callback (done, total, cell name).
The estimate divides the time since the run began by the answers computed so far: a
cell finished by an earlier run is counted by the runner in one step of a whole cell, and
is left out of the rate. Known limit: the first cell's time includes loading its model,
so the first estimates are high and come down as answers arrive.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class GridStep:
    done: int  # answers done, of total
    total: int
    cells_done: int  # cells finished, of cells
    cells: int
    cell: str  # the cell the last answer belongs to
    seconds_left: float | None  # None until an answer has been computed in this run

    @property
    def line(self) -> str:
        """ "1/4 celdas terminadas · 13/40 respuestas (última: cot-1__gemma-270m__seed0) ·
        quedan ~2 min"."""
        if self.done >= self.total:
            left = "escribiendo el informe…"
        elif self.seconds_left is None:
            left = "calculando el tiempo que queda…"
        else:
            left = f"quedan ~{duration_text(self.seconds_left)}"
        return (
            f"{self.cells_done}/{self.cells} celdas terminadas · {self.done}/{self.total} "
            f"respuestas (última: {self.cell}) · {left}"
        )


def duration_text(seconds: float) -> str:
    """45 -> "45 s", 130 -> "2 min 10 s", 4000 -> "1 h 7 min"."""
    seconds = max(0, math.ceil(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if minutes < 10 and rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class GridProgress:
    """Call it with the runner's (done, total, cell); returns the GridStep to show."""

    def __init__(self, cells: int, clock: Callable[[], float] = time.monotonic) -> None:
        if cells < 1:
            raise ValueError(f"cells must be >= 1, got {cells}")
        self.cells, self._clock = cells, clock
        self._began = clock()
        self._done = 0
        self._computed = 0  # answers this run computed (not finished cells it skipped)

    def __call__(self, done: int, total: int, cell: str) -> GridStep:
        steps, self._done = done - self._done, done
        per_cell = max(1, total // self.cells)
        if steps == 1 or per_cell == 1:
            self._computed += steps
        left = None
        if self._computed:
            rate = (self._clock() - self._began) / self._computed  # seconds per answer
            left = rate * (total - done)
        return GridStep(done, total, min(done // per_cell, self.cells), self.cells, cell, left)


def no_progress(*args, **kwargs) -> None:
    """A progress bar that shows nothing: the desks' default outside the app (Gradio's
    gr.Progress there), called as ``progress(fraction, desc=...)``."""
    return None
