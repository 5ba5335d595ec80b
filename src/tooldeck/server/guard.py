"""The request guard: every HTTP request passes here before any endpoint sees it.

It owns the server's rules on who may talk to it and how much they may send, in this order:

1. Header bytes over ``server.max_header_bytes`` -> 431. (uvicorn's parser already stops a
   head that arrives in pieces; this catches one that arrived in a single read.)
2. ``Host`` must name this server: one of ``server.allowed_hosts``, by default the loopback
   names and the bound address -> else 421. A page reached through DNS rebinding sends its
   own host name, so it is refused.
3. With a token configured, everything but the public paths (the page, its files, the docs,
   the schema and a bare ``/healthz``) needs ``Authorization: Bearer <token>`` -> else 401.
4. A state-changing request (not GET/HEAD/OPTIONS) that carries ``Origin`` must come from the
   server's own origin or ``server.allowed_origins`` -> else 403. No ``Origin`` is fine: that
   is a non-browser client.
5. A ``Content-Length`` over ``server.max_body_bytes`` -> 413 before a byte is read; bodies
   without one are counted as they arrive -> 413, and the connection is closed.

Every response also gets headers that keep the page from being framed or sniffed.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tooldeck.server.responses import error_response

__all__ = [
    "AUTHORIZED",
    "LOOPBACK_NAMES",
    "GuardMiddleware",
    "Policy",
    "host_name",
    "is_loopback",
]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
AUTHORIZED = "tooldeck.authorized"  # key in the request state: the caller passed the token check
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PUBLIC_PATHS = frozenset({"/", "/docs", "/openapi.json", "/healthz"})
_PUBLIC_PREFIX = "/static/"
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - names, not a bind
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
]


def is_loopback(host: str) -> bool:
    """Whether a bind address or host name is loopback (``localhost``, 127/8, ``::1``)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(value: str) -> str | None:
    """The host name of a ``Host`` header or an origin's authority, lower case, no port.

    Returns:
        The name (IPv6 without brackets), or None when the value is malformed.
    """
    try:
        parts = urlsplit("//" + value.strip())
        name = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return None
    if not name or parts.path or parts.query or parts.fragment or parts.username is not None:
        return None
    return name.rstrip(".")


@dataclass(frozen=True)
class Policy:
    """What the guard enforces; build it with :meth:`from_config`.

    Attributes:
        allowed_hosts: host names accepted in ``Host`` ("*" any, "*.example.com" a domain).
        allowed_origins: origins accepted besides the server's own (``scheme://host[:port]``).
        token: the bearer token, or None for none.
        max_body_bytes: the largest request body.
        max_header_bytes: the largest request head (request line and headers).
    """

    allowed_hosts: frozenset[str]
    allowed_origins: frozenset[str]
    token: str | None
    max_body_bytes: int
    max_header_bytes: int

    @classmethod
    def from_config(
        cls,
        *,
        bind_host: str,
        allowed_hosts: Iterable[str],
        allowed_origins: Iterable[str],
        token: str | None,
        max_body_bytes: int,
        max_header_bytes: int,
    ) -> Policy:
        """The policy for a server bound to ``bind_host`` with these settings."""
        hosts = {h.strip().strip("[]").rstrip(".").lower() for h in allowed_hosts if h.strip()}
        if not hosts:
            hosts = set(LOOPBACK_NAMES)
            bound = bind_host.strip().strip("[]").rstrip(".").lower()
            if bound not in _WILDCARD_BINDS:
                hosts.add(bound)
        origins = {o.strip().rstrip("/").lower() for o in allowed_origins if o.strip()}
        return cls(frozenset(hosts), frozenset(origins), token or None, max_body_bytes,
                   max_header_bytes)

    def host_allowed(self, name: str) -> bool:
        """Whether a (normalised) host name is one this server answers to."""
        if name in self.allowed_hosts or "*" in self.allowed_hosts:
            return True
        return any(p.startswith("*.") and name.endswith(p[1:]) for p in self.allowed_hosts)

    def token_ok(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries the token (constant-time compare)."""
        if self.token is None:
            return True
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        # the header was decoded as latin-1, so this gives back the bytes the client sent
        return hmac.compare_digest(given.strip().encode("latin-1"), self.token.encode())


def _headers(scope: Scope) -> dict[str, str]:
    """The request headers by lower-case name (the first of repeated ones)."""
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        out.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return out


def _head_bytes(scope: Scope) -> int:
    line = len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) + 32
    return line + sum(len(n) + len(v) + 4 for n, v in scope.get("headers", []))


class GuardMiddleware:
    """Pure ASGI middleware applying a :class:`Policy` to every HTTP request."""

    def __init__(self, app: ASGIApp, policy: Policy) -> None:
        """Wrap ``app``.

        Args:
            app: the application.
            policy: the rules to apply.
        """
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on with a counting ``receive``."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        over_limit = False  # set once the body passed the cap: the rest of it stays unread

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *_SECURITY_HEADERS]
                if over_limit:
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            status, text, extra = refusal
            response = error_response(status, text, headers={"connection": "close", **extra})
            await response(scope, receive, secured_send)
            return
        limit = self.policy.max_body_bytes
        received = 0

        async def counting_receive() -> Message:
            nonlocal received, over_limit
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over_limit = True
                    raise HTTPException(413, f"the request body is over {limit} bytes")
            return message

        await self.app(scope, counting_receive, secured_send)

    def _refusal(self, scope: Scope) -> tuple[int, str, dict[str, str]] | None:
        """The status, message and headers of a refusal, or None to let the request in."""
        policy = self.policy
        if _head_bytes(scope) > policy.max_header_bytes:
            return 431, f"request headers over {policy.max_header_bytes} bytes", {}
        headers = _headers(scope)
        host = headers.get("host", "")
        name = host_name(host)
        if name is None or not policy.host_allowed(name):
            shown = host[:100] if host else "(none)"
            msg = (f"this server does not answer to Host {shown!r}; "
                   "add the name to server.allowed_hosts")
            return 421, msg, {}
        authorized = policy.token_ok(headers.get("authorization"))
        scope.setdefault("state", {})[AUTHORIZED] = authorized
        path = scope.get("path", "")
        if not authorized and path not in _PUBLIC_PATHS and not path.startswith(_PUBLIC_PREFIX):
            msg = "this server needs a token: send 'Authorization: Bearer <token>'"
            return 401, msg, {"www-authenticate": "Bearer"}
        origin = headers.get("origin")
        if scope.get("method", "GET") not in _SAFE_METHODS and origin is not None:
            own = f"{scope.get('scheme', 'http')}://{host.strip().lower()}"
            given = origin.strip().rstrip("/").lower()
            if given != own and given not in policy.allowed_origins:
                msg = (f"requests from origin {origin[:100]!r} are not allowed; "
                       "add it to server.allowed_origins")
                return 403, msg, {}
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > policy.max_body_bytes):
            return 413, f"the request body is over {policy.max_body_bytes} bytes", {}
        return None
