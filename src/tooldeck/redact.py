"""Keeping secrets out of text a user or a client sees: the one place that scrubs them.

Every secret tooldeck knows of (API keys and tokens from the configuration, provider key env
vars) is remembered here; :func:`scrub` replaces each of them, and credentials written inside
URLs, before an error message reaches stderr, a log line or an HTTP body.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

__all__ = ["remember_secrets", "scrub"]

_MIN_SECRET = 4
_lock = threading.Lock()
_known: set[str] = set()
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<cred>[^/\s@:]*:[^/\s@]*)@")


def remember_secrets(values: Iterable[str | None]) -> None:
    """Add secret values that :func:`scrub` must hide from now on (short values are ignored)."""
    with _lock:
        _known.update(v for v in values if v and len(v) >= _MIN_SECRET)


def scrub(text: str) -> str:
    """Return ``text`` with every remembered secret and URL credential replaced by ``***``."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, "***")
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", text)
