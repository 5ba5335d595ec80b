"""The response body's limits: a byte cap that holds after decompression, and content types.

The client decodes bodies itself (httpx would inflate a whole network chunk at once, and
``Content-Encoding: gzip, gzip`` multiplies a 1000:1 bomb twice): :class:`CappedDecoder`
asks zlib for at most the bytes still allowed, so memory stays within the cap whatever the
compression ratio. Both the bytes on the wire and the decoded bytes are capped.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from tooldeck.tools.net.errors import ContentTypeError, NetworkError, ResponseTooLargeError

__all__ = ["ACCEPT_ENCODING", "CappedDecoder", "check_content_type", "media_type"]

ACCEPT_ENCODING = "gzip, deflate"
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def media_type(content_type: str | None) -> str:
    """``"Text/HTML; charset=utf-8"`` -> ``"text/html"`` (``""`` when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_content_type(content_type: str | None, allowed: Iterable[str] | None, shown: str) -> None:
    """Refuse a media type outside ``allowed`` (exact types, or ``"text/*"`` wildcards).

    Args:
        content_type: The response's ``Content-Type`` header.
        allowed: The call's allowlist; ``None`` allows everything.
        shown: The URL, for the message.

    Raises:
        ContentTypeError: The type (named in the message) is not allowed, or is missing.
    """
    if allowed is None:
        return
    media = media_type(content_type)
    patterns = [p.strip().lower() for p in allowed]
    if media and any(_matches(media, pattern) for pattern in patterns):
        return
    msg = f"refused {shown}: content type {media or '(none)'!r} is not one of {', '.join(patterns)}"
    raise ContentTypeError(msg)


def _matches(media: str, pattern: str) -> bool:
    if pattern.endswith("/*"):
        return pattern == "*/*" or media.startswith(pattern[:-1])
    return media == pattern


class CappedDecoder:
    """Decodes an identity, gzip or deflate body, refusing it past ``limit`` bytes."""

    def __init__(self, content_encoding: str | None, limit: int, shown: str) -> None:
        """Pick the decoder for a ``Content-Encoding`` value.

        Args:
            content_encoding: The header (``None`` or ``identity`` for none).
            limit: Most bytes allowed, on the wire and decoded.
            shown: The URL, for messages.

        Raises:
            NetworkError: An unsupported or stacked encoding.
        """
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in _WBITS):
            msg = f"refused {shown}: unsupported content encoding {content_encoding!r}"
            raise NetworkError(msg)
        self._coding = codings[0] if codings else None
        self._zlib = zlib.decompressobj(_WBITS[self._coding]) if self._coding else None
        self._limit = limit
        self._shown = shown
        self._wire = 0
        self._out = 0
        self._started = False

    def feed(self, data: bytes) -> bytes:
        """Decode the next chunk from the wire.

        Raises:
            ResponseTooLargeError: The body passed the cap.
            NetworkError: The compressed data is corrupt.
        """
        self._wire += len(data)
        if self._wire > self._limit:
            raise self._too_large()
        out = data if self._zlib is None else self._inflate(self._zlib, data)
        return self._count(out)

    def flush(self) -> bytes:
        """Whatever the decompressor still holds, at the end of the body."""
        if self._zlib is None:
            return b""
        return self._count(self._zlib.flush(self._limit - self._out + 1))

    def _inflate(self, inflater: zlib._Decompress, data: bytes) -> bytes:
        room = self._limit - self._out + 1  # one more than allowed: overflow shows
        try:
            out = inflater.decompress(data, room)
        except zlib.error as exc:
            if self._coding != "deflate" or self._started:
                msg = f"{self._shown}: corrupt {self._coding} body ({exc})"
                raise NetworkError(msg) from None
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, no zlib header
            self._started = True
            return self._inflate(self._zlib, data)
        self._started = True
        return out

    def _count(self, out: bytes) -> bytes:
        self._out += len(out)
        if self._out > self._limit:
            raise self._too_large()
        return out

    def _too_large(self) -> ResponseTooLargeError:
        msg = f"refused {self._shown}: the body is larger than {self._limit} bytes"
        return ResponseTooLargeError(msg)
