"""Connecting only to checked addresses, within one wall-clock deadline.

:class:`PinnedBackend` is an ``httpcore`` network backend: ``connect_tcp(host, ...)`` connects
to the addresses the SSRF guard checked for that host and pinned here, never resolving the name
again, so DNS rebinding between the check and the connect is impossible. httpcore still sends
``Host`` and does TLS (SNI and certificate verification) for the host name in the URL.

Every socket operation's timeout is clipped to what is left of the call's :class:`Deadline`,
so a server that trickles one byte a second (headers included) stops at the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import httpcore

if TYPE_CHECKING:
    import ssl

__all__ = ["Deadline", "PinnedBackend"]


class Deadline:
    """The end of a call's wall-clock budget (``None``: no total limit)."""

    def __init__(self, total_s: float | None) -> None:
        self.total_s = total_s
        self._end = None if total_s is None else time.monotonic() + total_s

    def remaining(self) -> float | None:
        """Seconds left (may be negative), or ``None`` without a total limit."""
        return None if self._end is None else self._end - time.monotonic()

    def expired(self) -> bool:
        """Whether the budget is spent."""
        left = self.remaining()
        return left is not None and left <= 0

    def clip(self, timeout: float | None, error: type[Exception]) -> float | None:
        """``timeout`` shortened to the time left; raises ``error`` when none is left."""
        left = self.remaining()
        if left is None:
            return timeout
        if left <= 0:
            msg = f"the total deadline of {self.total_s:g} s passed"
            raise error(msg)
        return left if timeout is None else min(timeout, left)


class PinnedBackend(httpcore.NetworkBackend):
    """An httpcore backend that connects only to pinned addresses, within a deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._pins: dict[str, tuple[str, ...]] = {}
        self._inner = httpcore.SyncBackend()

    def pin(self, host: str, addresses: Sequence[str]) -> None:
        """Let ``host`` (as in the URL, lower case) connect to these checked addresses."""
        self._pins[host] = tuple(addresses)

    def is_pinned(self, host: str) -> bool:
        """Whether ``host`` already has checked addresses (it is then never resolved again)."""
        return host in self._pins

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect to the first pinned address of ``host`` that answers."""
        addresses = self._pins.get(host.lower())
        if not addresses:
            msg = f"{host} has no address checked by the SSRF guard"
            raise httpcore.ConnectError(msg)
        failure: Exception = httpcore.ConnectError(f"no address of {host} answered")
        for address in addresses:
            wait = self._deadline.clip(timeout, httpcore.ConnectTimeout)
            try:
                stream = self._inner.connect_tcp(address, port, wait, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Refused: the client only speaks TCP to checked addresses."""
        msg = "unix sockets are not allowed"
        raise httpcore.ConnectError(msg)

    def sleep(self, seconds: float) -> None:
        """Sleep (httpcore's retry hook; the client does its own retries)."""
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    """A stream whose every timeout is clipped to the call's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        wait = self._deadline.clip(timeout, httpcore.ReadTimeout)
        return self._inner.read(max_bytes, wait)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.clip(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = self._deadline.clip(timeout, httpcore.ConnectTimeout)
        tls = self._inner.start_tls(ssl_context, server_hostname, wait)
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)
