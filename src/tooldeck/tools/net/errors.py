"""The typed errors of the guarded HTTP client (to move into ``tooldeck.errors``).

They hang under :class:`~tooldeck.errors.ToolExecutionError`, so a network tool that lets one
escape becomes an observation for the model, with a message that names the refused thing::

    ToolExecutionError
    └── NetworkError                    connection refused or reset, DNS failure, bad encoding
        ├── BlockedAddressError         the SSRF guard: scheme, userinfo, name or address refused
        ├── ResponseTooLargeError       the body passed its byte cap (on the wire or decoded)
        ├── NetworkTimeoutError         connect, read or total deadline passed
        ├── HTTPStatusError             a final status >= 400 (``status``, ``url``)
        ├── ContentTypeError            a content type outside the call's allowlist, bad JSON
        └── TooManyRedirectsError       more redirects than the policy allows
"""

from __future__ import annotations

from tooldeck.errors import ToolExecutionError

__all__ = [
    "BlockedAddressError",
    "ContentTypeError",
    "HTTPStatusError",
    "NetworkError",
    "NetworkTimeoutError",
    "ResponseTooLargeError",
    "TooManyRedirectsError",
]


class NetworkError(ToolExecutionError):
    """A network call failed (connection refused or reset, DNS failure, undecodable body)."""


class BlockedAddressError(NetworkError):
    """The SSRF guard refused a URL: its scheme, userinfo, host name or a resolved address."""


class ResponseTooLargeError(NetworkError):
    """The response body passed the call's byte cap (counted on the wire and decoded)."""


class NetworkTimeoutError(NetworkError):
    """A connect, read or total (wall-clock) deadline passed."""


class HTTPStatusError(NetworkError):
    """The server answered with a status >= 400 (after any retries).

    Attributes:
        status: The HTTP status code of the last response.
        url: The URL that answered it.
    """

    def __init__(self, message: str, *, status: int = 0, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class ContentTypeError(NetworkError):
    """The response is of a content type the call did not allow, or is not valid JSON."""


class TooManyRedirectsError(NetworkError):
    """The server redirected more times than the policy allows."""
