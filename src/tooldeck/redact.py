"""Keeping secrets out of text a user or a client sees: the one place that scrubs them.

Every secret tooldeck knows of (API keys and tokens from the configuration, secret-looking keys
of ``kwargs``/header dicts, passwords inside URLs, provider key env vars such as
``OPENAI_API_KEY``) is remembered here as soon as the configuration loads; :func:`scrub`
replaces each of them, credentials written inside URLs (``scheme://user:pass@``) and
secret-looking query parameters (``?api_key=...``) before an error message reaches stderr, a
log line or an HTTP body. :func:`mask_secrets` masks data shown on purpose (``config show``).

What counts as secret:

- a key whose name says so, at any depth (:func:`is_secret_key`): whole words such as ``key``,
  ``token``, ``auth``, ``session`` (so ``X-Api-Token`` and ``api_key`` are secret and
  ``max_tokens`` is not), or anywhere in the name ``password``, ``secret``, ``apikey``,
  ``authorization``, ``credential``, ``cookie``;
- the user part and password of a URL, and query parameters with secret-looking names;
- env vars named ``*API_KEY``, and plausible values of ``*_TOKEN``, ``*_SECRET``,
  ``*_PASSWORD``... (plain words such as ``true`` or ``basic`` are never remembered, so that
  scrubbing cannot eat ordinary text).
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = [
    "MASK",
    "env_secrets",
    "find_secrets",
    "is_secret_key",
    "mask_secrets",
    "remember_secrets",
    "scrub",
    "scrubbed_output",
    "url_secrets",
]

MASK = "***"
_MIN_SECRET = 4
_MIN_GUESSED = 6  # values found only by a key's name must be at least this long
_COMMON = {"true", "false", "none", "null", "yes", "no", "on", "off"}
_lock = threading.Lock()
_known: set[str] = set()
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<cred>[^/?#\s@]+)@")
_QUERY_PARAM = re.compile(r"(?P<pre>[?&;](?P<name>[\w.-]+)=)(?P<value>[^&#\s'\"]+)")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SECRET_WORDS = frozenset(
    {
        "key", "apikey", "token", "secret", "secrets", "password", "passwd", "passphrase",
        "authorization", "auth", "credential", "credentials", "cookie", "cookies", "session",
        "sessionid", "bearer", "signature",
    }
)  # fmt: skip
_SECRET_PARTS = ("password", "passwd", "secret", "apikey", "authorization", "credential", "cookie")
_ENV_LAST_WORDS = {"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE"}
_AUTH_SCHEME = re.compile(r"^(?:Bearer|Basic|Token|Digest)\s+(?P<cred>\S+)$", re.IGNORECASE)
_PLAIN_WORDS = re.compile(r"[A-Za-z]+(?:[-_ ][A-Za-z]+)*")


def is_secret_key(name: str) -> bool:
    """Whether a key (config key, header name, query parameter) names a secret.

    Args:
        name: The key, in any case style (``api_key``, ``X-Api-Token``, ``apiKey``).

    Returns:
        True for names such as ``api_key``, ``Authorization``, ``X-Api-Token``, ``password``;
        False for ``max_tokens``, ``keep_alive_s``, ``provider``.
    """
    words = {w.lower() for w in _WORD.findall(name)}
    if words & _SECRET_WORDS:
        return True
    flat = re.sub(r"[^a-z]", "", name.lower())
    return any(part in flat for part in _SECRET_PARTS)


def _hides(key: str, value: Any) -> bool:
    """Whether ``key: value`` holds a secret (numbers only when the key ends in a secret word,
    so ``token_limit: 1000`` stays visible while ``password: 123456`` does not)."""
    if value is None or isinstance(value, bool) or not is_secret_key(key):
        return False
    if isinstance(value, (int, float)):
        words = _WORD.findall(key)
        return bool(words) and words[-1].lower() in _SECRET_WORDS
    return True


def _mask_urls(text: str) -> str:
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)

    def query(match: re.Match[str]) -> str:
        return match.group("pre") + MASK if is_secret_key(match.group("name")) else match.group()

    return _QUERY_PARAM.sub(query, text) if "=" in text else text


def mask_secrets(data: Any) -> Any:
    """Return a copy of plain data with secrets masked, for showing it on purpose.

    Values of secret-looking keys (at any depth, see :func:`is_secret_key`) become ``'***'``;
    every string is scrubbed (URL credentials, secret query parameters, remembered secrets).

    Args:
        data: Dicts, lists and scalars (for example ``Config.model_dump(mode="json")``).

    Returns:
        The masked copy.
    """
    if isinstance(data, Mapping):
        return {k: MASK if _hides(str(k), v) else mask_secrets(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [mask_secrets(v) for v in data]
    if isinstance(data, str):
        return scrub(data)
    return data


def url_secrets(text: str) -> list[str]:
    """The credentials written in the URLs of ``text``: ``user:pass``, ``pass``, query values."""
    found: list[str] = []
    for match in _URL_CREDENTIALS.finditer(text):
        cred = match.group("cred")
        found.append(cred)
        if ":" in cred:
            found.append(cred.partition(":")[2])
    for match in _QUERY_PARAM.finditer(text):
        if is_secret_key(match.group("name")):
            found.append(match.group("value"))
    return found


def _plausible(value: str) -> bool:
    """Whether a value found only by its key's name can be a secret (not a plain word)."""
    if len(value) < _MIN_GUESSED or value.lower() in _COMMON:
        return False
    return len(value) >= 20 or not _PLAIN_WORDS.fullmatch(value)


def _leaf_texts(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaf_texts(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaf_texts(item)
    elif value is not None and not isinstance(value, bool):
        text = str(value)
        yield text
        scheme = _AUTH_SCHEME.match(text.strip())
        if scheme:
            yield scheme.group("cred")


def find_secrets(data: Any) -> list[str]:
    """The secret values in plain config data, at any depth.

    Args:
        data: Dicts, lists and scalars, such as a config file's contents.

    Returns:
        Values of secret-looking keys that can be secrets (plain words such as ``basic`` are
        left out), and credentials written in URLs.
    """
    found: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            if _hides(str(key), value):
                found.extend(v for v in _leaf_texts(value) if _plausible(v))
            else:
                found.extend(find_secrets(value))
    elif isinstance(data, (list, tuple)):
        for item in data:
            found.extend(find_secrets(item))
    elif isinstance(data, str) and ("@" in data or "=" in data):
        found.extend(url_secrets(data))
    return found


def env_secrets(environ: Mapping[str, str]) -> list[str]:
    """The secret values in an environment (provider keys such as ``OPENAI_API_KEY``).

    Args:
        environ: Variable names and values.

    Returns:
        Every ``*API_KEY`` value; plausible values of ``*_TOKEN``, ``*_SECRET``,
        ``*_PASSWORD``...; credentials inside URL values (``HTTPS_PROXY=http://u:p@proxy``).
    """
    found: list[str] = []
    for name, value in environ.items():
        upper = name.upper()
        words = upper.split("_")
        if upper.endswith(("API_KEY", "APIKEY")):
            found.append(value)
        elif (words[-1] in _ENV_LAST_WORDS or "SECRET" in upper or "PASSWORD" in upper) and (
            _plausible(value)
        ):
            found.append(value)
        if "://" in value:
            found.extend(url_secrets(value))
    return found


def remember_secrets(values: Iterable[str | None]) -> None:
    """Add secret values that :func:`scrub` must hide from now on (short values are ignored)."""
    with _lock:
        _known.update(v for v in values if v and len(v) >= _MIN_SECRET and v.lower() not in _COMMON)


def scrub(text: str) -> str:
    """Return ``text`` with every remembered secret, URL credential and secret query value
    replaced by ``***``."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    return _mask_urls(text)


def _scrub_record(record: logging.LogRecord) -> None:
    """Scrub a log record in place; records with nothing to hide are left untouched."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: logging reports it, from the scrubbed msg
        record.msg, record.args = scrub(str(record.msg)), ()
        return
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[0] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        if scrub(text) != text:
            record.exc_text = scrub(text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


@contextmanager
def scrubbed_output() -> Iterator[None]:
    """While inside, scrub every log record (any logger, any handler) and every warning shown.

    A log record factory scrubs each record as it is made (message, formatted exception,
    stack); ``warnings.showwarning`` gets the scrubbed message. Both are restored on exit.
    """
    previous_factory = logging.getLogRecordFactory()
    previous_show = warnings.showwarning

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous_factory(*args, **kwargs)
        _scrub_record(record)
        return record

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = str(message)
        if scrub(text) != text:
            message = scrub(text)
        previous_show(message, category, filename, lineno, file, line)

    logging.setLogRecordFactory(factory)
    warnings.showwarning = show
    try:
        yield
    finally:
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous_factory)
        if warnings.showwarning is show:
            warnings.showwarning = previous_show
