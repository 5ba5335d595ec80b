"""The run pool: model work (agent runs, answers written by the model) off the event loop.

The one place that bounds it. At most ``workers`` runs execute at once, each in a thread of
the pool's own, so the event loop and the retrieval-only endpoints stay responsive while runs
are in flight. A request waits at most ``queue_timeout_s`` for a free worker (else 503 with
``Retry-After``) and at most ``run_timeout_s`` for its result (else 504). Python threads
cannot be stopped: a run that timed out keeps its worker until it returns (the agent's own
step and wall-time limits end it), so the bound on threads holds.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from starlette.exceptions import HTTPException

__all__ = ["RunPool"]

T = TypeVar("T")


class RunPool:
    """A bounded pool of worker threads for blocking model calls."""

    def __init__(self, workers: int, queue_timeout_s: float, run_timeout_s: float) -> None:
        """Make the pool (threads start on first use).

        Args:
            workers: runs allowed at once (``server.max_concurrent_runs``).
            queue_timeout_s: how long a request may wait for a free worker.
            run_timeout_s: how long a request waits for its run (``server.run_timeout_s``).
        """
        self.workers = workers
        self.queue_timeout_s = queue_timeout_s
        self.run_timeout_s = run_timeout_s
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="tooldeck-run")
        # One semaphore per event loop (an asyncio primitive belongs to one loop); uvicorn
        # runs a single loop, so this is one semaphore in a server.
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _semaphore(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.workers)
        return slots

    async def run(self, func: Callable[[], T]) -> T:
        """Run ``func`` in a worker thread and return its result.

        Raises:
            HTTPException: 503 when no worker came free in time; 504 when the run took longer
                than ``run_timeout_s``. Whatever ``func`` raises passes through.
        """
        loop = asyncio.get_running_loop()
        slots = self._semaphore(loop)
        try:
            await asyncio.wait_for(slots.acquire(), self.queue_timeout_s)
        except TimeoutError:
            retry = str(max(1, math.ceil(self.queue_timeout_s)))
            msg = (f"all {self.workers} run workers are busy (server.max_concurrent_runs); "
                   f"try again in {retry} s")
            raise HTTPException(503, msg, headers={"Retry-After": retry}) from None
        try:
            future = loop.run_in_executor(self._executor, func)
        except BaseException:
            slots.release()
            raise
        future.add_done_callback(lambda _: slots.release())  # the slot is free when the thread is
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.run_timeout_s)
        except TimeoutError:
            msg = f"the run took longer than {self.run_timeout_s:g} s (server.run_timeout_s)"
            raise HTTPException(504, msg) from None

    def shutdown(self) -> None:
        """Stop taking work; drop runs that have not started."""
        self._executor.shutdown(wait=False, cancel_futures=True)
