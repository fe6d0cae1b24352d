"""The app's login: where the user name and password come from.

``--auth usuario:contraseña`` is the quick way, but a command line is public: any user of
the machine reads it with ``ps``. ``--auth-file FILE`` (first line ``usuario:contraseña``)
and the environment (``STUDY_ASSISTANT_AUTH_FILE``, ``STUDY_ASSISTANT_AUTH``) keep it
out of sight; the app says so when the password was typed on the command line.

Wrong passwords are throttled per client (``LoginThrottle``, wired into Gradio's login
route by ``ThrottledLogin``): a delay that doubles after a few failures, then a lockout.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import AssistantError, SettingsError

Auth = tuple[str, str]  # (user, password)
# A child of the app's logger: its lines go wherever the app's user errors go.
log = logging.getLogger("study_assistant.app.login")
TYPED_WARNING = (
    "aviso: la contraseña de --auth se ve en la lista de procesos (ps) de esta máquina; "
    "usa --auth-file ARCHIVO o la variable STUDY_ASSISTANT_AUTH"
)


def parse_auth(value: str | None, origin: str = "--auth") -> Auth | None:
    """ "ana:secreto" -> ("ana", "secreto"); the password may hold ":"."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise AssistantError(f"{origin} debe tener la forma usuario:contraseña")
    return user, password


def read_auth_file(path: str | Path) -> tuple[Auth | None, list[str]]:
    """(user, password) from the file's first line (spaces around it dropped), and a
    warning when other users of the machine may read the file."""
    path = Path(path).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        mode = path.stat().st_mode
    except OSError as err:
        raise AssistantError(
            f"No se puede leer el archivo de --auth-file {path}: {err.strerror or err}"
        ) from None
    except UnicodeDecodeError:
        raise AssistantError(f"{path} (--auth-file) no es texto UTF-8") from None
    first = lines[0].strip() if lines else ""
    if not first:
        raise AssistantError(
            f"{path} (--auth-file) está vacío: escribe usuario:contraseña en su primera línea"
        )
    auth = parse_auth(first, f"La primera línea de {path}")
    warnings = []
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(
            f"aviso: otros usuarios de esta máquina pueden leer {path}; "
            f"protégelo con chmod 600 {path}"
        )
    return auth, warnings


def resolve_auth(
    typed: str | None, auth_file: str | None, environ: Mapping[str, str] = os.environ
) -> tuple[Auth | None, list[str]]:
    """The login from, in order: --auth, --auth-file, STUDY_ASSISTANT_AUTH_FILE,
    STUDY_ASSISTANT_AUTH; and the warnings to print (a password typed where ps shows it,
    a file others may read)."""
    if typed and auth_file:
        raise AssistantError("Usa --auth o --auth-file, no los dos")
    if typed:
        return parse_auth(typed), [TYPED_WARNING]
    auth_file = auth_file or environ.get("STUDY_ASSISTANT_AUTH_FILE")
    if auth_file:
        return read_auth_file(auth_file)
    return parse_auth(environ.get("STUDY_ASSISTANT_AUTH"), "STUDY_ASSISTANT_AUTH"), []


# -- throttling ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ThrottleConfig:
    """How many wrong passwords a client may send, and how fast. Defaults: 3 tries free
    (typos), then a wait that doubles from 1 s (1, 2, 4, ... 64 s), and at 10 failures a
    15-minute lockout; 50 guesses, once 0.07 s, now take hours."""

    free_failures: int = 3
    first_delay_s: float = 1.0
    max_delay_s: float = 64.0
    lockout_failures: int = 10
    lockout_s: float = 900.0
    forget_after_s: float = 3600.0  # a client quiet this long starts over
    max_clients: int = 10_000  # the table's bound: the oldest entries go first

    def __post_init__(self) -> None:
        if not 0 <= self.free_failures < self.lockout_failures:
            raise SettingsError(
                f"free_failures ({self.free_failures}) debe estar entre 0 y lockout_failures "
                f"({self.lockout_failures})"
            )
        for name in ("first_delay_s", "max_delay_s", "lockout_s", "forget_after_s"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} debe ser positivo, no {getattr(self, name)}")


@dataclass
class _Client:
    failures: int = 0
    last_failure: float = 0.0
    blocked_until: float = 0.0


class LoginThrottle:
    """Failed logins per client (its IP address): after ``free_failures`` each failure
    makes the client wait before its next try, the wait doubling; at
    ``lockout_failures`` it waits ``lockout_s``. A try that comes early is refused
    without checking the password, so parallel guesses gain nothing. A success clears
    the client. Known limit: behind a reverse proxy every visitor has the proxy's address
    and shares one count."""

    def __init__(self, config: ThrottleConfig | None = None, clock=time.monotonic) -> None:
        self.config = config or ThrottleConfig()
        self._clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds before ``client`` may try again (0: now)."""
        with self._lock:
            entry = self._entry(client, create=False)
            return max(0.0, entry.blocked_until - self._clock()) if entry else 0.0

    def failed(self, client: str) -> float:
        """Count a wrong password; returns the wait it earned (and logs it)."""
        config = self.config
        with self._lock:
            now = self._clock()
            entry = self._entry(client, create=True)
            entry.failures += 1
            entry.last_failure = now
            if entry.failures >= config.lockout_failures:
                wait = config.lockout_s
            elif entry.failures > config.free_failures:
                doubling = entry.failures - config.free_failures - 1
                wait = min(config.max_delay_s, config.first_delay_s * 2**doubling)
            else:
                return 0.0
            entry.blocked_until = now + wait
            failures = entry.failures
        if failures >= config.lockout_failures:
            log.warning(
                "login: %d contraseñas incorrectas desde %s: bloqueado %.0f s",
                failures,
                client,
                wait,
            )
        else:
            log.warning(
                "login: %d contraseñas incorrectas desde %s: el siguiente intento, dentro de %.0f s",
                failures,
                client,
                wait,
            )
        return wait

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)

    def _entry(self, client: str, create: bool) -> _Client | None:
        """Under self._lock: the client's entry, forgotten once quiet long enough."""
        entry = self._clients.get(client)
        now = self._clock()
        if entry is not None and (
            now - entry.last_failure > self.config.forget_after_s and now >= entry.blocked_until
        ):
            del self._clients[client]
            entry = None
        if entry is None and create:
            while len(self._clients) >= self.config.max_clients:
                self._clients.popitem(last=False)
            entry = self._clients[client] = _Client()
        if entry is not None:
            self._clients.move_to_end(client)
        return entry


class ThrottledLogin:
    """ASGI middleware: Gradio's ``POST /login`` behind a LoginThrottle (Gradio hands its
    auth function the name and password only, never who sent them). A client that must
    wait gets 429 with ``Retry-After`` before its password is looked at; a 400 from
    Gradio (wrong credentials) counts as a failure, a 200 clears the client. The login
    page shows its own "Incorrect credentials" for both; the wait is in the response and
    the log."""

    def __init__(self, app, throttle: LoginThrottle) -> None:
        self.app, self.throttle = app, throttle

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope.get("method") != "POST" or not path.rstrip("/").endswith("/login"):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        wait = self.throttle.wait(client)
        if wait > 0:
            await _too_many(send, wait)
            return

        async def counted(message) -> None:
            # Counted before the response leaves: the client's next try sees the wait.
            if message["type"] == "http.response.start" and message["status"] == 200:
                self.throttle.succeeded(client)
            elif message["type"] == "http.response.start" and message["status"] == 400:
                self.throttle.failed(client)
            await send(message)

        await self.app(scope, receive, counted)


async def _too_many(send, wait: float) -> None:
    seconds = math.ceil(wait)
    body = json.dumps(
        {"detail": f"Demasiados intentos fallidos: espera {seconds} s antes de probar otra vez"},
        ensure_ascii=False,
    ).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", str(seconds).encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
