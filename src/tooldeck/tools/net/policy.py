"""The knobs of the HTTP client: timeouts, retries, the SSRF policy, and the retry delay rule.

Defaults are the production policy. A test changes the resolver or shortens timeouts by
passing its own :class:`NetPolicy` / :class:`Timeouts`; it reaches loopback only through
:func:`~tooldeck.tools.net.ssrf.allow_addresses_for_tests`, never through a policy field.
"""

from __future__ import annotations

import email.utils
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = [
    "DEFAULT_POLICY",
    "SENSITIVE_HEADERS",
    "NetPolicy",
    "Resolver",
    "Retries",
    "Timeouts",
    "parse_retry_after",
    "retry_delay",
    "system_resolver",
]

Resolver = Callable[[str], Sequence[str]]
"""Host name -> addresses (strings). The default is :func:`system_resolver`."""

SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-goog-api-key",
        "ocp-apim-subscription-key",
    }
)

_RNG = random.SystemRandom()


def system_resolver(host: str) -> list[str]:
    """Resolve a host name with ``getaddrinfo``; every address, in the resolver's order."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Timeouts:
    """Time limits of one call, in seconds.

    Attributes:
        connect_s: Resolving the name, and each TCP connect / TLS handshake.
        read_s: Each wait for bytes from the server (a silent server stops here).
        total_s: Wall clock for the whole call, retries, redirects and body included (a
            trickling server stops here). ``None`` for long downloads only.
    """

    connect_s: float = 5.0
    read_s: float = 10.0
    total_s: float | None = 30.0


@dataclass(frozen=True)
class Retries:
    """When and how long to retry a request.

    Retried: status 429 and every 5xx, and connections refused, reset or timed out before the
    request was sent. Never another 4xx.

    Attributes:
        attempts: Tries per request, the first included.
        backoff_s: The first delay; it doubles on each retry, with jitter.
        max_delay_s: Longest wait; a ``Retry-After`` asking for more gives up instead.
    """

    attempts: int = 3
    backoff_s: float = 0.5
    max_delay_s: float = 10.0

    def retries_status(self, status: int) -> bool:
        """Whether a response with this status is worth another attempt."""
        return status == 429 or status >= 500


@dataclass(frozen=True)
class NetPolicy:
    """Where the client may go and what it carries there.

    Attributes:
        resolver: Host name -> addresses; tests pass a dict-backed one instead of DNS.
        retries: The retry rule.
        max_redirects: Redirects followed (each hop checked like the first URL).
        sensitive_headers: Header names (lower case) dropped on a cross-origin redirect.
        blocked_names: Host names refused on top of the built-in internal names, exactly and
            as suffixes (``"corp.example"`` also refuses ``"git.corp.example"``).
    """

    resolver: Resolver = system_resolver
    retries: Retries = field(default_factory=Retries)
    max_redirects: int = 5
    sensitive_headers: frozenset[str] = SENSITIVE_HEADERS
    blocked_names: frozenset[str] = frozenset()


DEFAULT_POLICY = NetPolicy()


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait (delta-seconds or an HTTP date).

    Args:
        value: The header value, or ``None``.
        now: The current time (for tests); defaults to now in UTC.

    Returns:
        Seconds (never negative), or ``None`` when absent or unparseable.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_delay(retries: Retries, attempt: int, retry_after: str | None = None) -> float | None:
    """How long to wait before the next attempt, or ``None`` to give up.

    Exponential backoff with jitter (``backoff_s * 2**(attempt-1)``, scaled by a random factor
    in [0.5, 1], capped at ``max_delay_s``), but never shorter than the server's
    ``Retry-After``; a ``Retry-After`` longer than ``max_delay_s`` gives up.

    Args:
        retries: The retry rule.
        attempt: The attempt that just failed (1 for the first).
        retry_after: The response's ``Retry-After`` header, if any.

    Returns:
        Seconds to sleep, or ``None`` when no further attempt should be made.
    """
    if attempt >= retries.attempts:
        return None
    doubled: float = retries.backoff_s * 2.0 ** (attempt - 1)
    backoff = min(retries.max_delay_s, doubled) * _RNG.uniform(0.5, 1.0)
    asked = parse_retry_after(retry_after)
    if asked is None:
        return backoff
    if asked > retries.max_delay_s:
        return None
    return max(asked, backoff)
