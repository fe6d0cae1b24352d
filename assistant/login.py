"""The app's login: where the user name and password come from.

``--auth usuario:contraseña`` is the quick way, but a command line is public: any user of
the machine reads it with ``ps``. ``--auth-file FILE`` (first line ``usuario:contraseña``)
and the environment (``STUDY_ASSISTANT_AUTH_FILE``, ``STUDY_ASSISTANT_AUTH``) keep it
out of sight; the app says so when the password was typed on the command line.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from corpus.errors import AssistantError

Auth = tuple[str, str]  # (user, password)
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
