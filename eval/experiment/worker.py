"""An experiment launched from the app, run in its own process.

The app's Experiments tab used to run the grid in the server's process, in the chat's
queue slot: every chat waited for it, and "cancel" could not stop a thread, which went on
at 100% of a core until the app restarted. Here ``ExperimentWorker`` starts

    python -m eval.experiment.worker REQUEST_JSON

as a child process, one at a time and bounded in size (``MAX_ANSWERS``), and cancel
kills it (its process group: SIGTERM, then SIGKILL). The child lowers its priority and
keeps to one core, so the app's chats keep the other; it exits if the app dies. Finished
cells stay in the run's folder (eval/experiment/grid.py resumes from them).

The child writes one JSON line per answer on stdout, ``{"done", "total", "cell"}``, and
a last one, ``{"finished": true}`` or ``{"error": message}``; its stderr goes to
``worker.log`` in the run's folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from corpus.errors import AssistantError, SettingsError
from corpus.questions import load_questions

# eval.experiment.grid (and the metrics it imports: rouge-score, nltk, scipy; ~1.4 s) is
# imported where it is used, so that the app starts without it.

# strategies x models x questions one app run may ask for: 4 x 3 x 10 (the tab's default
# limit over its whole grid). At ~2 s an answer on one core, about 4 minutes.
MAX_ANSWERS = 120
NICE = 10  # the child's priority below the app's: the scheduler favours the chats
STOP_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long
WORKER = (sys.executable, "-m", "eval.experiment.worker")


class ExperimentCancelled(AssistantError):
    """The run was cancelled; the cells it finished are in its folder."""


@dataclass(frozen=True)
class ExperimentRequest:
    """One app run: the grid over one seed, the question file cut to ``limit``."""

    questions: str
    strategies: tuple[str, ...]
    models: tuple[str, ...]
    limit: int
    out: str
    index_dir: str  # loaded as it is: the app keeps it current (no build, no lock taken)

    def questions_asked(self) -> int:
        """How many questions each cell answers; SettingsError (or AssistantError) for a
        request that cannot run: no strategy or model, an unknown one, a bad limit."""
        from assistant.prompts import parse_strategy
        from eval.answers import limit_questions
        from eval.experiment.grid import parse_model

        if not self.strategies or not self.models:
            raise SettingsError("Elige al menos una estrategia y un modelo")
        for name in self.strategies:
            parse_strategy(name)
        for spec in self.models:
            parse_model(spec)
        return len(limit_questions(load_questions(self.questions), self.limit))

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ExperimentRequest:
        fields = json.loads(text)
        for name in ("strategies", "models"):
            fields[name] = tuple(fields[name])
        return cls(**fields)


@dataclass(frozen=True)
class Step:
    done: int  # answers done, of total, over the grid
    total: int
    cell: str


class ExperimentRun:
    """One child process: its progress as it comes, its outcome, and cancel."""

    def __init__(self, process: subprocess.Popen, out: Path) -> None:
        self.process, self.out = process, out
        self.last: Step | None = None
        self._final: dict | None = None
        self._cancelled = False

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def steps(self) -> Iterator[Step]:
        """The child's progress until it ends (finished, failed, killed or cancelled)."""
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not ours: a library printing to stdout
            if not isinstance(event, dict):
                continue
            if "done" in event:
                self.last = Step(int(event["done"]), int(event["total"]), str(event["cell"]))
                yield self.last
            elif "finished" in event or "error" in event:
                self._final = event
        self.process.wait()

    def results(self) -> dict:
        """The run's results.json, once ``steps`` is exhausted; AssistantError (one line)
        for a run that failed, ExperimentCancelled for a cancelled one."""
        code = self.process.wait()
        if self._cancelled:
            raise ExperimentCancelled(
                f"Experimento cancelado; las combinaciones terminadas quedan en {self.out}"
            )
        if self._final and "error" in self._final:
            raise AssistantError(str(self._final["error"]))
        results = self.out / "results.json"
        if not self._final or not results.is_file():
            raise AssistantError(
                f"El experimento terminó sin resultados (código {code}): mira "
                f"{self.out / 'worker.log'}"
            )
        return json.loads(results.read_text(encoding="utf-8"))

    def cancel(self) -> None:
        """Stop the child and everything it started: SIGTERM to its process group, then
        SIGKILL if it is still there after STOP_GRACE_S."""
        self._cancelled = True
        for sig, grace in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, None)):
            if self.process.poll() is not None:  # reaped: its pid may be another's by now
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue


class ExperimentWorker:
    """The app's experiments: one run at a time, at most ``max_answers`` answers, each in a
    child process (``command``; tests hand in a script around this module's ``main``)."""

    def __init__(self, command: Sequence[str] = WORKER, max_answers: int = MAX_ANSWERS) -> None:
        self.command, self.max_answers = list(command), max_answers
        self._run: ExperimentRun | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> ExperimentRun | None:
        with self._lock:
            return self._run if self._run is not None and self._run.alive else None

    def start(self, request: ExperimentRequest) -> ExperimentRun:
        """Check the request (AssistantError naming the problem) and start its child."""
        questions = request.questions_asked()
        answers = len(request.strategies) * len(request.models) * questions
        if answers > self.max_answers:
            raise SettingsError(
                f"El experimento pediría {answers} respuestas ({len(request.strategies)} "
                f"estrategias × {len(request.models)} modelos × {questions} preguntas); en la "
                f"app el máximo es {self.max_answers}: quita estrategias, modelos o "
                "preguntas, o usa `python -m assistant experiment`"
            )
        with self._lock:
            if self._run is not None and self._run.alive:
                step = self._run.last
                done = f" ({step.done}/{step.total} respuestas)" if step else ""
                raise AssistantError(
                    f"Ya hay un experimento en marcha{done}: espera a que termine o cancélalo"
                )
            out = Path(request.out)
            out.mkdir(parents=True, exist_ok=True)
            with open(out / "worker.log", "ab") as log:
                process = subprocess.Popen(
                    [*self.command, request.to_json()],
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                    start_new_session=True,  # its own process group: cancel reaches it all
                )
            self._run = ExperimentRun(process, out)
            return self._run

    def cancel(self) -> bool:
        """Stop the run in progress; False when there is none."""
        run = self.running
        if run is None:
            return False
        run.cancel()
        return True


# -- the child ------------------------------------------------------------------------------


def _emit(event: dict) -> None:
    print(json.dumps(event, ensure_ascii=False), flush=True)


def _stay_in_the_background() -> None:
    """Below the app's priority, on one core (torch then uses one thread), and gone when
    the app that started it is: a run nobody can cancel must not outlive the app."""
    os.nice(NICE)
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:
        os.sched_setaffinity(0, {cores[-1]})
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from eval.experiment import grid as experiment

    request = ExperimentRequest.from_json(argv[0])
    _stay_in_the_background()
    try:
        experiment.run_experiment(
            request.questions,
            list(request.strategies),
            list(request.models),
            [0],
            request.limit,
            out=request.out,
            index_dir=request.index_dir,
            progress=lambda done, total, cell: _emit({"done": done, "total": total, "cell": cell}),
        )
    except AssistantError as err:
        _emit({"error": str(err)})
        return 2
    _emit({"finished": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
