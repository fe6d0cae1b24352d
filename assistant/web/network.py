"""Where the app listens: whether a host is this machine only, and whether a port is free.

Both are checked before the notes are indexed or a model loads, so a bad ``--host`` or a
busy ``--port`` costs the student one line, not half a minute.
"""

from __future__ import annotations

import ipaddress
import socket

from corpus.errors import SettingsError


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address. A name is
    resolved, never judged by its spelling ("127.evil.example" is an outside name); a
    name that does not resolve is not loopback."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0].split("%")[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_port_free(host: str, port: int) -> None:
    """SettingsError naming the port and the flag when ``host:port`` cannot be listened on."""
    if not 0 <= port <= 65535:
        raise SettingsError(f"--port debe estar entre 0 y 65535, no {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise SettingsError(
            f"--host {host!r} no es una dirección de esta máquina ({err})"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind(address)
        except OSError as err:
            raise SettingsError(
                f"el puerto {port} de {host} no está libre ({err.strerror}): "
                "elige otro con --port (o STUDY_ASSISTANT_PORT)"
            ) from None
