"""``duckduckgo``: web search with no key, through ``ddgs``.

``ddgs`` has its own HTTP stack (not :mod:`tooldeck.tools.net`), so this module bounds it
itself: its backend is pinned to DuckDuckGo, its timeout set, the whole call bounded by
``web.timeout_s`` on a daemon worker, and searches are spaced by a process-wide minimum
interval (``web.duckduckgo_min_interval_s``), since DuckDuckGo answers quick repeats with a
rate limit or with nothing. Its errors are mapped to advice here (:func:`_ddgs_failure`).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, ClassVar

from langchain_core.tools import ToolException

from tooldeck.tools.builtin.declarations import DUCKDUCKGO_DESCRIPTION
from tooldeck.tools.builtin.search.base import WebSearchTool, search_example
from tooldeck.tools.builtin.search.results import DETAIL_CHARS, hits_from, one_line, render_results
from tooldeck.tools.builtin.web_common import call_bounded

__all__ = ["DuckDuckGoTool"]

_USE_SERPER = "use serper with SERPER_API_KEY"
_DDG_RATE_LIMITED = f"DuckDuckGo rate-limited this machine; wait a minute or {_USE_SERPER} instead"
_DDG_EMPTY_NOTE = (
    "DuckDuckGo also answers with nothing when it rate-limits this machine: if a simple query "
    f"finds nothing too, wait a minute or {_USE_SERPER}."
)
_NETWORK_WORDS = ("connect", "dns", "resolve", "network", "unreachable", "os error", "refused")


class _Spacer:
    """A process-wide minimum interval between the starts of calls; thread-safe.

    A caller reserves the next free slot under the lock and sleeps outside it, so concurrent
    callers queue up one interval apart without holding the lock while they wait.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0.0

    def reserve(self, interval_s: float, most_wait_s: float) -> float | None:
        """Seconds to wait before calling, or ``None`` when that would pass ``most_wait_s``."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            if start - now > most_wait_s:
                return None
            self._next = start + interval_s
            return start - now


_DDG_SPACER = _Spacer()


class DuckDuckGoTool(WebSearchTool):
    """DuckDuckGo results through ``ddgs`` (no key), spaced by a process-wide interval."""

    example: ClassVar[dict[str, Any]] = search_example(
        "What is the capital of France, and how many people live there?",
        "capital of France population",
        "1. Paris - Wikipedia\n   https://en.wikipedia.org/wiki/Paris\n   Paris is the capital "
        "and largest city of France, with 2.1 million residents.",
        "The capital of France is Paris, with about 2.1 million residents.",
    )

    name: str = "duckduckgo"
    description: str = DUCKDUCKGO_DESCRIPTION

    def _search(self, query: str, limit: int) -> str:
        web = self.web
        # The whole call stays within web.timeout_s: at most half of it waiting for a turn.
        wait = _DDG_SPACER.reserve(web.duckduckgo_min_interval_s, most_wait_s=web.timeout_s / 2)
        if wait is None:
            msg = (
                "too many DuckDuckGo searches are waiting for their turn (they are spaced "
                f"{web.duckduckgo_min_interval_s:g} s apart); try again in a few seconds"
            )
            raise ToolException(msg)
        time.sleep(wait)
        rows = self._text(query, limit, web.timeout_s - wait)
        hits = hits_from(rows, "href", "body", limit)
        return render_results(query, hits, empty_note=_DDG_EMPTY_NOTE)

    def _text(self, query: str, limit: int, budget_s: float) -> list[Any]:
        """``DDGS.text`` on a daemon worker, given ``budget_s`` seconds; ``[]`` when empty."""
        timeout_s = self.web.timeout_s
        region = self.web.duckduckgo_region
        late = _ddg_timeout(timeout_s)
        try:
            rows = call_bounded(lambda: _ddgs_text(query, region, limit, budget_s), budget_s, late)
        except ToolException:  # the time ran out
            raise
        except ImportError:
            msg = "the ddgs package is not installed: pip install ddgs, or use serper"
            raise ToolException(msg) from None
        except Exception as exc:
            failure = _ddgs_failure(exc, timeout_s)
            if failure is None:
                return []
            raise ToolException(failure) from None
        return rows if isinstance(rows, list) else []


def _ddgs_text(query: str, region: str, limit: int, timeout_s: float) -> Any:
    from ddgs import DDGS

    client = DDGS(timeout=max(1, math.ceil(timeout_s)))
    return client.text(
        query, region=region, safesearch="moderate", max_results=limit, backend="duckduckgo"
    )


def _ddg_timeout(timeout_s: float) -> str:
    return (
        f"DuckDuckGo did not answer within web.timeout_s ({timeout_s:g} s); try again in a "
        f"moment, or {_USE_SERPER}"
    )


def _ddgs_failure(exc: Exception, timeout_s: float) -> str | None:
    """The observation for an exception of ``DDGS.text``; ``None`` means "no results".

    Raises:
        Exception: ``exc`` itself when it is neither a ddgs error nor an ``OSError`` (a bug).
    """
    from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

    if not isinstance(exc, DDGSException | OSError):
        raise exc
    detail = one_line(str(exc), DETAIL_CHARS) or type(exc).__name__
    lowered = detail.lower()
    if isinstance(exc, RatelimitException) or "ratelimit" in lowered or "429" in lowered:
        return _DDG_RATE_LIMITED
    if isinstance(exc, TimeoutException | TimeoutError) or "timed out" in lowered:
        return _ddg_timeout(timeout_s)
    if lowered.startswith("no results found"):
        return None
    if isinstance(exc, OSError) or any(word in lowered for word in _NETWORK_WORDS):
        return (
            f"no network: DuckDuckGo cannot be reached ({detail}); check the internet "
            f"connection, or {_USE_SERPER}"
        )
    return f"DuckDuckGo search failed ({detail}); try again in a minute, or {_USE_SERPER}"
