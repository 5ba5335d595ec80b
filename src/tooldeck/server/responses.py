"""Error bodies of the HTTP server: the one place that writes them.

Every error the server sends, from the app, the request guard or the connection layer, is
``{"error": <type>, "message": <text>}``; the text goes through :func:`clean` first, which hides
configured secrets (:func:`tooldeck.redact.scrub`) and the data folder and home folder paths.
"""

from __future__ import annotations

import http
import json
from pathlib import Path

from starlette.responses import JSONResponse

from tooldeck.redact import scrub

__all__ = ["clean", "error_body", "error_name", "error_response", "raw_error"]

_MAX_MESSAGE_CHARS = 2_000


def clean(message: str, data_dir: Path | None = None) -> str:
    """Return ``message`` with secrets and local paths hidden, cut to a sane length.

    Args:
        message: the text meant for a client.
        data_dir: the configured data folder, shown as ``<data_dir>``.
    """
    text = scrub(message).encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
    if data_dir is not None:
        for form in {str(data_dir), str(Path(data_dir).expanduser()), _resolved(data_dir)}:
            if form and form not in ("/", "."):
                text = text.replace(form, "<data_dir>")
    home = str(Path.home())
    if home not in ("/", ""):
        text = text.replace(home, "~")
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[:_MAX_MESSAGE_CHARS] + "..."
    return text


def _resolved(path: Path) -> str:
    try:
        return str(Path(path).expanduser().resolve())
    except OSError:
        return ""


def error_name(status: int) -> str:
    """The ``error`` field for a plain HTTP error: its reason phrase in CamelCase."""
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        return "HTTPError"
    return "".join(word[:1].upper() + word[1:] for word in phrase.replace("-", " ").split())


def error_body(error: str, message: str, data_dir: Path | None = None) -> dict[str, str]:
    """The JSON object of an error response (``message`` cleaned)."""
    return {"error": error, "message": clean(message, data_dir)}


def error_response(
    status: int,
    message: str,
    *,
    error: str | None = None,
    data_dir: Path | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response; ``error`` defaults to the status's reason phrase."""
    body = error_body(error or error_name(status), message, data_dir)
    return JSONResponse(body, status, headers=headers)


def raw_error(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 error response as bytes (for the connection layer), closing.

    Args:
        status: the status code.
        message: the text for the client (cleaned here).
    """
    body = json.dumps(error_body(error_name(status), message)).encode()
    phrase = http.HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body
