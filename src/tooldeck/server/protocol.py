"""The connection layer: uvicorn's h11 protocol with the deadlines and caps it lacks.

uvicorn (h11) closes a connection that sits idle after a response, but not one that never
finishes its request: a client that opens a connection and sends nothing, or trickles a header
line every few seconds (slowloris), holds it forever. This protocol adds:

- **request deadlines**: the head of a request must arrive within ``header_timeout_s`` of
  the connection's start (or of its first byte, for a further request on a kept-alive
  connection), and its body within another ``header_timeout_s``; else 408 (or a plain close
  when nothing arrived, or the body was under way) and the connection is closed;
- **idle keep-alive** after a response of ``keep_alive_s`` (uvicorn's own timer, in seconds
  that need not be whole);
- a **connection cap**: a connection beyond ``max_connections`` gets 503 and is closed at once;
- **431** instead of uvicorn's generic 400 when the request head outgrows the parser's limit
  (``h11_max_incomplete_event_size``, set from ``max_header_bytes``).

Error responses written here use the server's JSON error body.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from tooldeck.server.responses import raw_error

__all__ = ["ConnectionLimits", "GuardedH11Protocol", "protocol_class"]


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection limits.

    Attributes:
        request_timeout_s: time for a request's head to arrive, and again for its body.
        keep_alive_s: how long an idle connection stays open after a response.
        max_connections: open connections allowed at once.
        max_header_bytes: the largest request head.
    """

    request_timeout_s: float
    keep_alive_s: float
    max_connections: int
    max_header_bytes: int


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus the limits in :class:`ConnectionLimits`."""

    limits: ClassVar[ConnectionLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Same arguments as uvicorn's ``H11Protocol``."""
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_for: type[h11.IDLE] | type[h11.SEND_BODY] = h11.IDLE

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Accept the connection, or answer 503 and close when too many are open."""
        super().connection_made(transport)  # type: ignore[arg-type]
        if len(self.connections) > self.limits.max_connections:
            self.connections.discard(self)  # not counted while it closes
            msg = "too many connections; try again shortly"
            self.transport.write(raw_error(503, msg))
            self.transport.close()
            return
        self._arm_deadline(h11.IDLE)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline, then let uvicorn clean up."""
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, then arm or drop the deadline for the state it is in."""
        super().data_received(data)
        state = self.conn.their_state
        if not self.transport.is_closing() and state in (h11.IDLE, h11.SEND_BODY):
            self._arm_deadline(state)  # a head or a body under way: it has until the deadline
        else:
            self._cancel_deadline()

    def on_response_complete(self) -> None:
        """Let uvicorn arm its idle timer, then rearm it with ``keep_alive_s`` (a float)."""
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # None: a pipelined request started
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = self.loop.call_later(
                self.limits.keep_alive_s, self.timeout_keep_alive_handler
            )

    def send_400_response(self, msg: str) -> None:
        """Answer a request the parser refused: 431 for an oversized head, else 400."""
        buffered = len(self.conn.trailing_data[0])
        if buffered > self.limits.max_header_bytes:
            status, text = 431, f"request headers over {self.limits.max_header_bytes} bytes"
        else:
            status, text = 400, "malformed HTTP request"
        self._cancel_deadline()
        if not self.transport.is_closing():
            self.transport.write(raw_error(status, text))
            self.transport.close()

    def _arm_deadline(self, phase: type[h11.IDLE] | type[h11.SEND_BODY]) -> None:
        """Start the clock for the head (IDLE) or the body (SEND_BODY), unless it runs."""
        if self._deadline is not None and self._deadline_for is phase:
            return
        self._cancel_deadline()
        self._deadline_for = phase
        self._deadline = self.loop.call_later(self.limits.request_timeout_s, self._timed_out)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:  # a partial head
            msg = f"the request did not arrive within {self.limits.request_timeout_s:g} s"
            self.transport.write(raw_error(408, msg))
        self.transport.close()


def protocol_class(limits: ConnectionLimits) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass bound to ``limits`` (uvicorn's ``http=``)."""
    return type("TooldeckH11Protocol", (GuardedH11Protocol,), {"limits": limits})
