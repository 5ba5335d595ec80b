"""The guarded HTTP client: the one place where tooldeck opens outbound HTTP connections.

Every network tool (search, web fetch, wikipedia, youtube) and ``models pull`` goes through
:func:`fetch` or :func:`stream`, never httpx, urllib or sockets directly. Each call gets:

* the SSRF guard (``ssrf.py``): http/https only, no userinfo, internal names refused, the host
  resolved once (with a timeout) and *every* address checked, the connection made to exactly
  those addresses (``transport.py``), each redirect hop checked the same way (at most 5);
* credentials (``Authorization``, ``Cookie``, API-key headers) dropped on cross-origin
  redirects;
* connect, read and total wall-clock timeouts; retries with backoff and jitter on 429 and
  5xx, honouring ``Retry-After`` (``policy.py``);
* a byte cap that holds after decompression, and a per-call content-type allowlist
  (``body.py``).

Errors (``errors.py``, all :class:`~tooldeck.errors.ToolExecutionError`)::

    NetworkError
    ├── BlockedAddressError     ├── HTTPStatusError (status, url)
    ├── ResponseTooLargeError   ├── ContentTypeError
    ├── NetworkTimeoutError     └── TooManyRedirectsError

Tests reach loopback servers (``testing.py``) through :func:`allow_addresses_for_tests` only.
"""

from __future__ import annotations

from tooldeck.tools.net.client import (
    DEFAULT_MAX_BYTES,
    Response,
    StreamedResponse,
    fetch,
    stream,
)
from tooldeck.tools.net.errors import (
    BlockedAddressError,
    ContentTypeError,
    HTTPStatusError,
    NetworkError,
    NetworkTimeoutError,
    ResponseTooLargeError,
    TooManyRedirectsError,
)
from tooldeck.tools.net.policy import DEFAULT_POLICY, NetPolicy, Retries, Timeouts
from tooldeck.tools.net.ssrf import allow_addresses_for_tests

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_POLICY",
    "BlockedAddressError",
    "ContentTypeError",
    "HTTPStatusError",
    "NetPolicy",
    "NetworkError",
    "NetworkTimeoutError",
    "Response",
    "ResponseTooLargeError",
    "Retries",
    "StreamedResponse",
    "Timeouts",
    "TooManyRedirectsError",
    "allow_addresses_for_tests",
    "fetch",
    "stream",
]
