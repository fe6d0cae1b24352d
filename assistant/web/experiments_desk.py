"""The experiments tab's logic without Gradio: a strategy x model grid run in the
worker's child process, followed step by step, and the published grid shown before any run.

The chats never wait for a run: it holds no slot of theirs, and the child runs niced on
one core. ``progress(fraction or (done, total), desc=..., unit=...)`` is Gradio's
progress bar in the app.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from assistant.web.experiment_progress import GridProgress, no_progress
from corpus.errors import AssistantError
from eval.experiment.worker import ExperimentCancelled, ExperimentRequest, ExperimentWorker
from eval.harness import ROOT

QUESTIONS = ROOT / "eval" / "data" / "notes_dev.jsonl"
# The grid the tab opens on: the chat's default model (its adapter, its precision) on the
# held-out questions, rerun whenever that default changes.
PUBLISHED = ROOT / "docs" / "experiments" / "heldout-current"
log = logging.getLogger("study_assistant.app")


@dataclass(frozen=True)
class ExperimentOutcome:
    status: str  # one line for the student
    folder: Path | None  # where its plots are (None: nothing to show)
    result: dict | None  # results.json's content


class ExperimentsDesk:
    def __init__(self, index_dir: Path, out_dir: Path, worker: ExperimentWorker | None = None):
        self.index_dir, self.out_dir = Path(index_dir), Path(out_dir)
        self.worker = worker or ExperimentWorker()  # one run at a time, in a child process

    def run(
        self, strategies: list[str], models: list[str], limit: float, progress=no_progress
    ) -> ExperimentOutcome:
        if not strategies or not models:
            raise AssistantError("Elige al menos una estrategia y un modelo")
        out = self.out_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        request = ExperimentRequest(
            str(QUESTIONS),
            tuple(strategies),
            tuple(models),
            int(limit),
            str(out),
            str(self.index_dir),
        )
        run = self.worker.start(request)
        grid = GridProgress(cells=len(strategies) * len(models))  # one seed
        progress(0, desc="Preparando el experimento (carga las notas y el primer modelo)…")
        for step in run.steps():
            line = grid(step.done, step.total, step.cell).line
            progress((step.done, step.total), desc=line, unit="respuestas")
        try:
            result = run.results()
        except ExperimentCancelled as err:
            return ExperimentOutcome(str(err), None, None)
        return ExperimentOutcome(f"Resultados en {out}", out, result)

    def cancel(self) -> str:
        """Stop the run in progress (its child process and all it started)."""
        if not self.worker.cancel():
            return "No hay ningún experimento en marcha."
        log.info("experimento cancelado")
        return "Experimento cancelado."

    @staticmethod
    def published() -> ExperimentOutcome:
        """The held-out grid of the chat's default model committed under docs/experiments,
        shown before any run: a grid takes long on this hardware, a student should not
        need to rerun it."""
        try:
            result = json.loads((PUBLISHED / "results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ExperimentOutcome("No hay un experimento publicado que mostrar.", None, None)
        config = result.get("config", {})
        models = ", ".join(model.get("spec", "?") for model in config.get("models", []))
        status = (
            f"Experimento completo publicado (`{PUBLISHED.relative_to(ROOT)}`): {models}, "
            f"{len(result.get('cells') or [])} combinaciones de estrategia y modelo, en las "
            f"{config.get('n_questions', '?')} preguntas reservadas para la evaluación "
            f"(semillas {', '.join(str(s) for s in config.get('seeds', []))}). "
            "Ejecuta uno propio con los controles de arriba."
        )
        return ExperimentOutcome(status, PUBLISHED, result)
