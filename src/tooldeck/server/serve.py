"""Starting the server: refuse unsafe setups, take the port, hand the socket to uvicorn.

The listening socket is bound here, before uvicorn runs, so a busy port is a
:class:`~tooldeck.errors.PortInUseError` (exit 3) instead of uvicorn's ``sys.exit(1)``, and a
non-loopback address without a token is a :class:`~tooldeck.errors.ServeError` (exit 2).
"""

from __future__ import annotations

import errno
import math
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tooldeck.errors import PortInUseError, ServeError
from tooldeck.server.guard import is_loopback
from tooldeck.server.protocol import ConnectionLimits, protocol_class

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

    from tooldeck.config import ServerConfig

__all__ = ["MIN_TOKEN_CHARS", "Listener", "check_exposure", "make_server", "open_listener"]

MIN_TOKEN_CHARS = 16
_GRACEFUL_SHUTDOWN_S = 5


@dataclass(frozen=True)
class Listener:
    """A bound, listening socket and the URL it serves."""

    sock: socket.socket
    url: str


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to serve a non-loopback address without a token, or with a short one.

    Raises:
        ServeError: the message names ``TOOLDECK_SERVER__TOKEN``.
    """
    how = ("set TOOLDECK_SERVER__TOKEN (or server.token) to a long random value, e.g. the "
           "output of: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        msg = f"the server token is shorter than {MIN_TOKEN_CHARS} characters; {how}"
        raise ServeError(msg)
    if token is None and not is_loopback(host):
        msg = (f"serving on {host} (not a loopback address) needs a token: {how}; "
               "or serve on 127.0.0.1")
        raise ServeError(msg)


def open_listener(host: str, port: int, backlog: int = 128) -> Listener:
    """Bind and listen on ``host:port`` (port 0: any free port).

    Raises:
        PortInUseError: another program has the port.
        ServeError: the address is not this machine's, or the port needs privileges.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind((host.strip("[]"), port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            msg = (f"port {port} on {host} is in use by another program; stop it, or pick "
                   "another port with --port or server.port")
            raise PortInUseError(msg) from None
        msg = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise ServeError(msg) from None
    bound_port = int(sock.getsockname()[1])
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return Listener(sock, f"http://{shown}:{bound_port}")


def make_server(app: ASGIApp, server: ServerConfig, host: str) -> uvicorn.Server:
    """The uvicorn server with the connection limits of ``server``.

    Args:
        app: the ASGI app (:func:`tooldeck.server.app.create_app`).
        server: the ``server`` section of the configuration.
        host: the bound address (for uvicorn's own messages).
    """
    import uvicorn

    limits = ConnectionLimits(
        request_timeout_s=server.header_timeout_s,
        keep_alive_s=server.keep_alive_s,
        max_connections=server.max_connections,
        max_header_bytes=server.max_header_bytes,
    )
    config = uvicorn.Config(
        app,
        host=host.strip("[]"),
        http=protocol_class(limits),
        ws="none",
        lifespan="on",
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # X-Forwarded-* from anyone on loopback would change scheme/client
        server_header=False,
        h11_max_incomplete_event_size=server.max_header_bytes,
        timeout_keep_alive=max(1, math.ceil(server.keep_alive_s)),  # the protocol refines it
        # connections are capped as they open; this catches requests still running after
        # their client left (each holds a task)
        limit_concurrency=server.max_connections + 1,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
    )
    return uvicorn.Server(config)
