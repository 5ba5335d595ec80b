"""The ``serve`` command of the CLI: parse, start the HTTP server."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = ["add_parsers", "cmd_serve"]


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``serve`` subcommand to the CLI's subparsers."""
    serve = sub.add_parser("serve", help="HTTP API and web page (FastAPI)", parents=[common])
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--index", help="index for /rest_api and /functional (rag.default_index)")
    serve.add_argument("--no-llm", action="store_true", help="answer /v1/ask without a model")


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    """``tooldeck serve``."""
    import uvicorn

    from tooldeck.server.app import create_app

    app = create_app(config, index=args.index, use_llm=not args.no_llm)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
