"""The guarded HTTP client's errors: they live in :mod:`tooldeck.errors` (the one tree) under
:class:`~tooldeck.errors.ToolExecutionError`; re-exported here for ``tooldeck.tools.net``."""

from __future__ import annotations

from tooldeck.errors import (
    BlockedAddressError,
    ContentTypeError,
    HTTPStatusError,
    NetworkError,
    NetworkTimeoutError,
    ResponseTooLargeError,
    TooManyRedirectsError,
)

__all__ = [
    "BlockedAddressError",
    "ContentTypeError",
    "HTTPStatusError",
    "NetworkError",
    "NetworkTimeoutError",
    "ResponseTooLargeError",
    "TooManyRedirectsError",
]
