"""The ``serve`` command of the CLI: parse, check the setup, start the HTTP server."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = ["add_parsers", "cmd_serve"]


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``serve`` subcommand to the CLI's subparsers."""
    serve = sub.add_parser(
        "serve", help="HTTP API and web page (FastAPI)", parents=[common],
        description="Serve the API and the web page. Exit codes: 2 cannot start as configured "
        "(e.g. a non-loopback address without TOOLDECK_SERVER__TOKEN), 3 the port is in use.",
    )
    serve.add_argument("--host", help="address to listen on (server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (server.port, 8000)")
    serve.add_argument("--index", help="index for /rest_api and /functional (rag.default_index)")
    serve.add_argument("--no-llm", action="store_true", help="answer /v1/ask without a model")


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    """``tooldeck serve``: refuse unsafe setups (exit 2) or a busy port (exit 3), then serve.

    Raises:
        ServeError: a non-loopback address without a token, or an address that cannot be used.
        PortInUseError: the port is taken.
    """
    from tooldeck.server.app import create_app
    from tooldeck.server.guard import is_loopback
    from tooldeck.server.serve import check_exposure, make_server, open_listener

    server_config = config.server
    host = args.host or server_config.host
    port = server_config.port if args.port is None else args.port
    token = server_config.token.get_secret_value() if server_config.token else None
    check_exposure(host, token)
    listener = open_listener(host, port)
    try:
        app = create_app(config, index=args.index, use_llm=not args.no_llm, bind_host=host)
        server = make_server(app, server_config, host)
        print(f"tooldeck serving on {listener.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        if not is_loopback(host) and not server_config.allowed_hosts:
            print("note: only the Host names localhost, 127.0.0.1 and ::1"
                  + ("" if host in ("0.0.0.0", "::") else f" and {host}")  # noqa: S104
                  + " are accepted; list the names clients use in server.allowed_hosts",
                  file=sys.stderr, flush=True)
        server.run(sockets=[listener.sock])
    finally:
        listener.sock.close()
    return 0
