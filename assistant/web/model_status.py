"""Whether the chat's default models are loaded, as one line for the app's header.

app.py's warm-up (StudyApp.warm_up, started by main() in a background thread) moves it
from "loading" to "ready" or "failed"; a first question that loads the models itself
(no warm-up, or a failed one) makes it "ready" too. The page polls ``line()`` until
``settled``.
"""

from __future__ import annotations

import threading
from typing import Literal

State = Literal["pending", "loading", "ready", "failed"]


class ModelStatus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.state: State = "pending"
        self.seconds: float | None = None  # how long the warm-up took
        self.error = ""

    def loading(self) -> None:
        with self._lock:
            if self.state != "ready":
                self.state = "loading"

    def ready(self, seconds: float | None = None) -> None:
        with self._lock:
            if self.state != "ready":
                self.state, self.seconds, self.error = "ready", seconds, ""

    def failed(self, error: str) -> None:
        with self._lock:
            if self.state != "ready":
                self.state, self.error = "failed", error

    @property
    def settled(self) -> bool:
        """Nothing will change without a question: the page can stop asking."""
        return self.state in ("ready", "failed", "pending")

    def line(self) -> str:
        """The header's line, as plain text (the app escapes it)."""
        if self.state == "loading":
            return "Modelos: cargando modelos… (una pregunta que llegue antes espera)"
        if self.state == "ready":
            took = f" (cargados en {self.seconds:.1f} s)" if self.seconds is not None else ""
            return f"Modelos: listo{took}"
        if self.state == "failed":
            return (
                f"⚠ Modelos: no se pudieron precargar ({self.error}); la primera pregunta "
                "lo intentará de nuevo"
            )
        return "Modelos: se cargan con la primera pregunta"
