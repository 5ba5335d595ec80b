"""``POST /v1/run`` with ``"stream": true``: the run's events as NDJSON lines, as they come.

The pipeline runs in the run pool (:mod:`.runs`) as for a plain run; a callback handler turns
its custom events into lines, handed to the event loop through a queue::

    {"event": "token", "text": "..."}       model output as it is decoded
    {"event": "step", "step": {...}}         a finished Thought / Action / Observation
    {"event": "final", "result": {...}}      the result dict (what a plain /v1/run returns)
    {"event": "error", "error": type, "message": text}   the run failed after it started

The response starts with the first event, so a run refused before it starts (503 busy, a bad
question or session) is a plain JSON error with its status, as without streaming.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.responses import StreamingResponse

from tooldeck.server.responses import clean, error_name

if TYPE_CHECKING:
    from pathlib import Path

    from tooldeck.server.runs import RunPool

__all__ = ["Emit", "event_handler", "stream_response"]

Emit = Callable[[dict[str, Any]], None]
_END = {"event": "end"}


def event_handler(emit: Emit) -> Any:
    """A callback handler that passes the pipeline's token and step events to ``emit``."""
    from langchain_core.callbacks import BaseCallbackHandler

    from tooldeck.pipeline.state import STEP_EVENT, TOKEN_EVENT

    class Forward(BaseCallbackHandler):
        def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
            """Forward tooldeck's token and step events; ignore others."""
            if name == TOKEN_EVENT:
                emit({"event": "token", "text": data.get("text", "")})
            elif name == STEP_EVENT:
                emit({"event": "step", "step": data})

    return Forward()


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, ensure_ascii=False, default=str) + "\n").encode("utf-8", "replace")


def _error_event(exc: BaseException, data_dir: Path) -> dict[str, Any]:
    if isinstance(exc, HTTPException):
        return {"event": "error", "error": error_name(exc.status_code),
                "message": clean(str(exc.detail), data_dir)}
    return {"event": "error", "error": type(exc).__name__, "message": clean(str(exc), data_dir)}


async def stream_response(
    pool: RunPool, run: Callable[[Emit], dict[str, Any]], data_dir: Path
) -> StreamingResponse:
    """Run ``run(emit)`` in the pool; stream what it emits, then its result (or its error).

    Raises:
        HTTPException: 503 / 504 from the pool, before the first line.
        ToolDeckError: The run failed before its first event (a bad question or session).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def emit(event: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, event)

    task = asyncio.ensure_future(pool.run(partial(run, emit)))
    task.add_done_callback(lambda _: queue.put_nowait(_END))  # after every event the run sent
    first = await queue.get()
    if first is _END:
        task.result()  # a run refused or failed before any event: a plain error response

    async def lines() -> AsyncIterator[bytes]:
        event = first
        while event is not _END:
            yield _line(event)
            event = await queue.get()
        error = task.exception()
        if error is not None:
            yield _line(_error_event(error, data_dir))
        else:
            yield _line({"event": "final", "result": task.result()})

    return StreamingResponse(lines(), media_type="application/x-ndjson")
