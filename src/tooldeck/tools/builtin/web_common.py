"""What the built-in web tools share: settings, requests, time bounds and failure wording.

This module owns one rule: a failure of the guarded client (:mod:`tooldeck.tools.net`) is put
into words for the model here and nowhere else (:func:`network_advice`), always in one shape::

    <what happened>; <what to do> (<the client's own message>)

Each tool names its :class:`Service`: who was asked, whether the model chose the address,
which API key it needs, and what to use instead. The tools raise the text as a
``ToolException`` (the runner makes it an observation), or, for search, return it.

Every request of a web tool goes through :func:`web_request` (the ``web`` settings' User-Agent,
byte cap and time limits), and a blocking body is bounded by :func:`call_bounded` (from sync
code) or :func:`run_bounded` (from ``_arun``), for :func:`bound_s` seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.tools import ToolException

if TYPE_CHECKING:
    from tooldeck.config import Config
    from tooldeck.config_schema import WebConfig
    from tooldeck.errors import NetworkError
    from tooldeck.tools.net import NetPolicy, Response, Timeouts

__all__ = [
    "HTML_TYPES",
    "MAX_CONNECT_S",
    "WEB_PAGE",
    "Service",
    "bound_s",
    "call_bounded",
    "net_timeouts",
    "network_advice",
    "run_bounded",
    "web_request",
    "web_settings",
]

MAX_CONNECT_S = 5.0  # the most any web tool waits to connect, whatever web.timeout_s is
HTML_TYPES = ("text/html", "application/xhtml+xml")  # the media types read as HTML pages
_PUBLIC_ONLY = "tooldeck only fetches public http(s) addresses"
_T = TypeVar("_T")


# --- settings and requests ---


def web_settings(config: Config | None) -> WebConfig:
    """The ``web`` section of ``config``, or its defaults when there is no config."""
    from tooldeck.config_schema import WebConfig

    return config.web if config is not None else WebConfig()


def net_timeouts(web: WebConfig, *, most_read_s: float | None = None) -> Timeouts:
    """Per-request time limits: ``web.timeout_s`` bounds the whole request.

    Args:
        web: The settings.
        most_read_s: A tighter bound on each wait for bytes (``None``: ``web.timeout_s``).

    Returns:
        Connect within :data:`MAX_CONNECT_S`, each read and the whole within ``web.timeout_s``.
    """
    from tooldeck.tools.net import Timeouts

    total = web.timeout_s
    read = total if most_read_s is None else min(most_read_s, total)
    return Timeouts(connect_s=min(MAX_CONNECT_S, total), read_s=read, total_s=total)


def web_request(
    url: str,
    web: WebConfig,
    *,
    policy: NetPolicy | None,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str | int | float] | None = None,
    json: Any = None,
    allowed_types: Iterable[str] | None = None,
) -> Response:
    """One request through the guarded client, limited by the ``web`` settings.

    Args:
        url: The address.
        web: User-Agent (sent unless ``headers`` sets another), ``max_bytes``, ``timeout_s``.
        policy: The client's policy; ``None`` for the production one.
        method: The HTTP method.
        headers: More request headers.
        params: Query parameters.
        json: A JSON body.
        allowed_types: The content types accepted (``None``: any).

    Returns:
        The response, its body read within ``web.max_bytes``.

    Raises:
        NetworkError: Any failure of the client (see :func:`network_advice`).
    """
    from tooldeck.tools.net import fetch

    return fetch(
        url,
        method=method,
        headers={"User-Agent": web.user_agent, **(headers or {})},
        params=params,
        json=json,
        policy=policy,
        max_bytes=web.max_bytes,
        timeout=net_timeouts(web),
        allowed_types=allowed_types,
    )


# --- time bounds ---


def bound_s(web: WebConfig, requests: int, slack_s: float = 1.0) -> float:
    """The most a call that makes ``requests`` requests one after another may take."""
    return requests * web.timeout_s + slack_s


def call_bounded(work: Callable[[], _T], seconds: float, timeout_message: str) -> _T:
    """Run a blocking body on a daemon thread and wait for it at most ``seconds``.

    Args:
        work: The body; whatever it raises is raised here.
        seconds: The most the caller waits (the thread is left to finish on its own).
        timeout_message: The failure's text when the time runs out.

    Returns:
        The body's result.

    Raises:
        ToolException: It took longer than ``seconds``.
    """
    import concurrent.futures

    from tooldeck.tools.runner import daemon_call

    future = daemon_call(work)
    try:
        result: _T = future.result(timeout=seconds)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise ToolException(timeout_message) from None
    return result


async def run_bounded(work: Callable[[], _T], seconds: float, tool_name: str) -> _T:
    """The ``_arun`` of a blocking tool body: run it on a daemon thread, give up after ``seconds``.

    Args:
        work: The body (its own requests have time limits; this bounds the whole).
        seconds: The most the caller waits.
        tool_name: Named in the timeout message.

    Returns:
        The body's result.

    Raises:
        ToolException: It took longer than ``seconds``.
    """
    import asyncio

    from tooldeck.tools.runner import daemon_call

    try:
        result: _T = await asyncio.wait_for(asyncio.wrap_future(daemon_call(work)), seconds)
    except TimeoutError:
        msg = f"{tool_name} did not finish within {seconds:g} s; try again later"
        raise ToolException(msg) from None
    return result


# --- failures ---


@dataclass(frozen=True)
class Service:
    """Who a web tool asks, as its failures name it.

    Attributes:
        name: Named in every failure, such as ``"Wikipedia"`` or ``"the web page"``.
        own_url: The model chose the address (web_fetch, summarize), so a refused, missing
            or unreachable address is the model's to check; otherwise the endpoint is fixed
            and a refusal points at this machine's DNS or proxy.
        key_env: The env var holding the service's API key (``""``: no key); HTTP 401 and 403
            then say to check it.
        key_setting: The ``web`` setting that may hold the key instead.
        instead: What else to do when the service fails, such as ``"search with duckduckgo"``.
    """

    name: str
    own_url: bool = False
    key_env: str = ""
    key_setting: str = ""
    instead: str = "use another source"


WEB_PAGE = Service("the web page", own_url=True)
"""A page at an address the model gave (web_fetch, summarize)."""


def network_advice(exc: NetworkError, service: Service, web: WebConfig) -> str:
    """A failure of the guarded client, worded for the model: what happened, what to do.

    Args:
        exc: The client's error.
        service: Who was asked.
        web: The settings, whose limits the text names.

    Returns:
        ``<what happened>; <what to do> (<exc>)``.
    """
    from tooldeck.errors import (
        BlockedAddressError,
        ContentTypeError,
        HTTPStatusError,
        NetworkTimeoutError,
        ResponseTooLargeError,
        TooManyRedirectsError,
    )

    name, own_url, later = service.name, service.own_url, f"try again later, or {service.instead}"
    if isinstance(exc, HTTPStatusError):
        happened, todo = _status_advice(exc.status, service)
    elif isinstance(exc, BlockedAddressError):
        happened = f"the network guard refused to contact {name}: {_PUBLIC_ONLY}"
        if own_url:
            todo = "check the URL, or use another one"
        else:
            happened += f", and {name}'s is not one here"
            todo = "check the DNS or proxy settings of this machine"
    elif isinstance(exc, NetworkTimeoutError):
        happened = (
            f"{name} did not answer within web.timeout_s ({web.timeout_s:g} s): the site is "
            "slow or unreachable"
        )
        todo = f"{later}, or raise web.timeout_s"
    elif isinstance(exc, ResponseTooLargeError):
        happened = f"{name} sent an answer larger than web.max_bytes ({web.max_bytes} bytes)"
        smaller = "fetch a smaller, more specific page" if own_url else "ask for something smaller"
        todo = f"{smaller}, or raise web.max_bytes"
    elif isinstance(exc, ContentTypeError):
        happened, todo = f"{name} answered with content tooldeck cannot read", later
    elif isinstance(exc, TooManyRedirectsError):
        happened = f"{name} redirects too many times"
        todo = "try another URL for the same content" if own_url else later
    elif own_url:
        happened = f"cannot reach {name}"
        todo = "check the URL and that this machine is online, or try again later"
    else:
        happened = f"no network: cannot reach {name}"
        todo = "check the internet connection, or try again later"
    return f"{happened}; {todo} ({exc})"


def _status_advice(status: int, service: Service) -> tuple[str, str]:
    """What happened and what to do for an HTTP error status."""
    name, later = service.name, f"try again later, or {service.instead}"
    if status in (401, 403) and service.key_env:
        setting = f" (or web.{service.key_setting})" if service.key_setting else ""
        return (
            f"{name} refused the API key (HTTP {status}): check {service.key_env}{setting}",
            "the key may be mistyped, revoked or out of credit",
        )
    if status in (401, 403, 407):
        return (
            f"{name} refused the request (HTTP {status}): access denied (a login is needed, or "
            "robots are blocked)",
            service.instead,
        )
    if status in (404, 410):
        todo = "check the URL, or search for the page" if service.own_url else later
        return f"{name}: no such page (HTTP {status})", todo
    if status == 429:
        credit = " or the account ran out of credit" if service.key_env else ""
        todo = f"wait a minute, then try again, or {service.instead}"
        return f"{name} is limiting requests (HTTP 429){credit}", todo
    if status >= 500:
        return f"{name} has a server problem (HTTP {status})", later
    todo = "check the URL" if service.own_url else "try a shorter or simpler query"
    return f"{name} refused the request (HTTP {status})", todo
