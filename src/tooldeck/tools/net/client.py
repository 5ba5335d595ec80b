"""fetch and stream: one guarded HTTP call, redirects and retries included.

One call is one :class:`_Call`: for each hop it checks the URL (``ssrf.py``), resolves the host
once and checks every address, pins them in the backend (``transport.py``), sends with
retries, and on a redirect builds the next hop by hand (method rules, credentials dropped
across origins). The body is then read through the byte cap (``body.py``). Every failure
leaves as an error of ``errors.py``.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json as jsonlib
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from tooldeck.tools.net.body import ACCEPT_ENCODING, CappedDecoder, check_content_type, media_type
from tooldeck.tools.net.errors import (
    BlockedAddressError,
    ContentTypeError,
    HTTPStatusError,
    NetworkError,
    NetworkTimeoutError,
    ResponseTooLargeError,
    TooManyRedirectsError,
)
from tooldeck.tools.net.policy import DEFAULT_POLICY, NetPolicy, Timeouts, retry_delay
from tooldeck.tools.net.ssrf import check_address, check_url, display_url
from tooldeck.tools.net.transport import Deadline, PinnedBackend

__all__ = ["DEFAULT_MAX_BYTES", "Response", "StreamedResponse", "fetch", "stream"]

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "tooldeck/0.1"
_HOP_HEADERS = ("host", "content-length", "transfer-encoding")


@dataclass(frozen=True)
class Response:
    """A fetched response, its body read within the cap.

    Attributes:
        url: The final URL (after redirects).
        status: The HTTP status (below 400: higher ones raise :class:`HTTPStatusError`).
        headers: Response headers (case-insensitive lookup).
        content: The decoded body.
        redirects: The URLs that redirected, in order (empty without redirects).
    """

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes
    redirects: tuple[str, ...] = ()

    @property
    def content_type(self) -> str:
        """The media type, lower case, without parameters (``""`` when absent)."""
        return media_type(self.headers.get("content-type"))

    def text(self) -> str:
        """The body decoded with the declared charset (UTF-8 otherwise), bad bytes replaced."""
        charset = _charset(self.headers.get("content-type")) or "utf-8"
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ContentTypeError: The body is not valid JSON.
        """
        try:
            return jsonlib.loads(self.content)
        except (ValueError, UnicodeDecodeError) as exc:
            msg = f"the response from {self.url.split('?', 1)[0]} is not valid JSON ({exc})"
            raise ContentTypeError(msg) from None


class StreamedResponse:
    """A response whose body is read on demand, within the cap (see :func:`stream`).

    Attributes:
        url: The final URL (after redirects).
        status: The HTTP status (below 400).
        headers: Response headers (case-insensitive lookup).
        redirects: The URLs that redirected, in order.
    """

    def __init__(
        self,
        url: httpx.URL,
        core: httpcore.Response,
        redirects: tuple[str, ...],
        decoder: CappedDecoder,
        call: _Call,
    ) -> None:
        self.url = str(url)
        self.status = core.status
        self.headers: Mapping[str, str] = httpx.Headers(core.headers)
        self.redirects = redirects
        self._shown = display_url(url)
        self._core = core
        self._decoder = decoder
        self._call = call

    def iter_bytes(self) -> Iterator[bytes]:
        """The decoded body in chunks (once).

        Raises:
            ResponseTooLargeError: The body passed the cap.
            NetworkTimeoutError: The read or total deadline passed.
            NetworkError: The connection failed or the body is corrupt.
        """
        deadline = self._call.deadline
        with self._call.mapped_errors(self._shown):
            for chunk in self._core.iter_stream():
                decoded = self._decoder.feed(chunk)
                if decoded:
                    yield decoded
                if deadline.expired():  # a slow consumer also spends the budget
                    msg = f"{self._shown}: the total deadline of {deadline.total_s:g} s passed"
                    raise NetworkTimeoutError(msg)
            tail = self._decoder.flush()
            if tail:
                yield tail

    def read(self) -> bytes:
        """The whole decoded body (see :meth:`iter_bytes`)."""
        return b"".join(self.iter_bytes())


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str | int | float] | None = None,
    json: Any = None,
    policy: NetPolicy | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: Timeouts | None = None,
    allowed_types: Iterable[str] | None = None,
) -> Response:
    """Fetch a public http(s) URL through the SSRF guard, with timeouts, retries and caps.

    Args:
        url: An ``http`` or ``https`` URL on the public internet.
        method: The HTTP method.
        headers: Request headers; credentials among them are dropped on a cross-origin
            redirect (see :attr:`NetPolicy.sensitive_headers`).
        params: Query parameters, added to those already in ``url``.
        json: A JSON body (sets ``Content-Type: application/json``).
        policy: Resolver, retries, redirects and header rules; the production default.
        max_bytes: Most body bytes accepted, on the wire and after decompression.
        timeout: Connect, read and total limits; :class:`Timeouts` defaults.
        allowed_types: Media types accepted (``"text/*"`` wildcards); ``None`` accepts any.

    Returns:
        The response, its body read.

    Raises:
        BlockedAddressError: A scheme, userinfo, host name or address the guard refuses, on
            any hop.
        TooManyRedirectsError: More than ``policy.max_redirects`` redirects.
        HTTPStatusError: A final status >= 400 (``status`` attribute), after retries.
        ContentTypeError: A media type outside ``allowed_types``.
        ResponseTooLargeError: A body over ``max_bytes``.
        NetworkTimeoutError: A connect, read or total deadline passed.
        NetworkError: Any other network failure.
    """
    with stream(
        url,
        method=method,
        headers=headers,
        params=params,
        json=json,
        policy=policy,
        max_bytes=max_bytes,
        timeout=timeout,
        allowed_types=allowed_types,
    ) as response:
        content = response.read()
    return Response(response.url, response.status, response.headers, content, response.redirects)


@contextmanager
def stream(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str | int | float] | None = None,
    json: Any = None,
    policy: NetPolicy | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: Timeouts | None = None,
    allowed_types: Iterable[str] | None = None,
) -> Iterator[StreamedResponse]:
    """Like :func:`fetch`, but yields the response before reading its body (downloads).

    The status, redirects and content type are checked before the response is yielded; the
    body is read with :meth:`StreamedResponse.iter_bytes` inside the ``with`` block, and the
    connection is closed when the block ends. Pass ``Timeouts(total_s=None)`` for a long
    download and ``headers={"Accept-Encoding": "identity"}`` for byte ranges. Same arguments
    and errors as :func:`fetch`.
    """
    call = _Call(policy or DEFAULT_POLICY, timeout or Timeouts())
    request = call.first_request(method, url, headers, params, json)
    with httpcore.ConnectionPool(
        ssl_context=_ssl_context(), network_backend=call.backend, max_connections=4
    ) as pool:
        core, final, redirects = call.send(pool, request)
        try:
            yield call.checked(core, final, redirects, max_bytes, allowed_types)
        finally:
            core.close()


@dataclass(frozen=True)
class _Request:
    method: str
    url: httpx.URL
    headers: httpx.Headers
    content: bytes


class _Call:
    """The state of one fetch: policy, deadline, and the backend holding pinned addresses."""

    def __init__(self, policy: NetPolicy, timeouts: Timeouts) -> None:
        self.policy = policy
        self.timeouts = timeouts
        self.deadline = Deadline(timeouts.total_s)
        self.backend = PinnedBackend(self.deadline)

    def first_request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str | int | float] | None,
        json: Any,
    ) -> _Request:
        try:
            parsed = httpx.URL(url)
            if params:
                parsed = parsed.copy_merge_params(params)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            msg = f"refused {url[:100]!r}: not a valid URL ({exc})"
            raise BlockedAddressError(msg) from None
        built = httpx.Request(method.upper(), parsed, headers=headers, json=json)
        merged = httpx.Headers({"User-Agent": _USER_AGENT, "Accept": "*/*"})
        merged.update(built.headers)
        merged.setdefault("Accept-Encoding", ACCEPT_ENCODING)
        for name in _HOP_HEADERS:
            merged.pop(name, None)
        return _Request(built.method, parsed, merged, built.read())

    def send(
        self, pool: httpcore.ConnectionPool, request: _Request
    ) -> tuple[httpcore.Response, _Request, tuple[str, ...]]:
        """Send, following redirects by hand; every hop is checked like the first URL."""
        redirects: list[str] = []
        while True:
            self._pin(request.url)
            core = self._send_with_retries(pool, request)
            location = _header(core, "location") if core.status in _REDIRECT_STATUSES else None
            if location is None:
                return core, request, tuple(redirects)
            core.close()
            if len(redirects) >= self.policy.max_redirects:
                msg = (
                    f"refused {display_url(request.url)}: more than "
                    f"{self.policy.max_redirects} redirects"
                )
                raise TooManyRedirectsError(msg)
            redirects.append(str(request.url))
            request = _redirected(request, core.status, location, self.policy.sensitive_headers)

    def checked(
        self,
        core: httpcore.Response,
        request: _Request,
        redirects: tuple[str, ...],
        max_bytes: int,
        allowed_types: Iterable[str] | None,
    ) -> StreamedResponse:
        """The final response, once its content type and declared length are acceptable."""
        url = request.url
        shown = display_url(url)
        content_type = _header(core, "content-type")
        check_content_type(content_type, allowed_types, shown)
        decoder = CappedDecoder(_header(core, "content-encoding"), max_bytes, shown)
        length = _header(core, "content-length") or ""
        if request.method != "HEAD" and length.isdigit() and int(length) > max_bytes:
            msg = f"refused {shown}: the body ({length} bytes) is larger than {max_bytes} bytes"
            raise ResponseTooLargeError(msg)
        return StreamedResponse(url, core, redirects, decoder, self)

    @contextmanager
    def mapped_errors(self, shown: str) -> Iterator[None]:
        """Turn httpcore's exceptions into the client's typed errors."""
        try:
            yield
        except httpcore.TimeoutException as exc:
            if self.deadline.expired():
                msg = f"{shown}: the total deadline of {self.deadline.total_s:g} s passed"
            else:
                msg = f"{shown}: {_TIMEOUT_NAMES.get(type(exc), 'timed out')}"
            raise NetworkTimeoutError(msg) from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            msg = f"{shown}: {type(exc).__name__}: {exc}"
            raise NetworkError(msg) from None

    def _pin(self, url: httpx.URL) -> None:
        host, literal = check_url(url, self.policy.blocked_names)
        if self.backend.is_pinned(host):
            return
        shown = display_url(url)
        found = [str(literal)] if literal is not None else self._resolve(host, shown)
        self.backend.pin(host, [str(check_address(address, shown)) for address in found])

    def _resolve(self, host: str, shown: str) -> list[str]:
        from tooldeck.tools.runner import daemon_call

        wait = self.deadline.clip(self.timeouts.connect_s, httpcore.ConnectTimeout)
        future = daemon_call(lambda: list(self.policy.resolver(host)))
        try:
            found: list[str] = future.result(timeout=wait)
        except concurrent.futures.TimeoutError:
            msg = f"{shown}: resolving {host} took longer than {wait:g} s"
            raise NetworkTimeoutError(msg) from None
        except (OSError, UnicodeError) as exc:
            msg = f"{shown}: cannot resolve {host} ({exc})"
            raise NetworkError(msg) from None
        if not found:
            msg = f"{shown}: {host} has no addresses"
            raise NetworkError(msg)
        return found

    def _send_with_retries(
        self, pool: httpcore.ConnectionPool, request: _Request
    ) -> httpcore.Response:
        retries = self.policy.retries
        shown = display_url(request.url)
        attempt = 0
        while True:
            attempt += 1
            with self.mapped_errors(shown):
                try:
                    core = pool.handle_request(self._core_request(request))
                except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                    if _not_connected(exc) and self._wait(retry_delay(retries, attempt)):
                        continue
                    raise
            if core.status < 400:
                return core
            asked = _header(core, "retry-after")
            if retries.retries_status(core.status):
                if self._wait(retry_delay(retries, attempt, asked), core):
                    continue
            core.close()
            tries = f" after {attempt} attempts" if attempt > 1 else ""
            after = f" (Retry-After: {asked})" if asked else ""
            msg = f"{shown}: HTTP {core.status}{tries}{after}"
            raise HTTPStatusError(msg, status=core.status, url=str(request.url))

    def _wait(self, delay: float | None, core: httpcore.Response | None = None) -> bool:
        """Sleep ``delay`` before a retry; ``False`` when there is no delay or no time left."""
        left = self.deadline.remaining()
        if delay is None or (left is not None and delay >= left):
            return False
        if core is not None:
            core.close()
        time.sleep(delay)
        return True

    def _core_request(self, request: _Request) -> httpcore.Request:
        built = httpx.Request(
            request.method, request.url, headers=request.headers, content=request.content
        )
        url = request.url
        timeouts = self.timeouts
        return httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=built.headers.raw,
            content=request.content,
            extensions={
                "timeout": {
                    "connect": timeouts.connect_s,
                    "read": timeouts.read_s,
                    "write": timeouts.read_s,
                    "pool": timeouts.connect_s,
                }
            },
        )


_TIMEOUT_NAMES: dict[type[Exception], str] = {
    httpcore.ConnectTimeout: "connecting timed out",
    httpcore.ReadTimeout: "the server did not answer in time (read timeout)",
    httpcore.WriteTimeout: "sending the request timed out",
    httpcore.PoolTimeout: "no connection became free in time",
}


def _redirected(
    request: _Request, status: int, location: str, sensitive: frozenset[str]
) -> _Request:
    """The next hop: 303 (and 301/302 after POST) become GET; credentials stay on their origin."""
    try:
        target = request.url.join(location).copy_with(fragment=None)
    except (httpx.InvalidURL, ValueError) as exc:
        msg = f"refused a redirect from {display_url(request.url)}: bad location ({exc})"
        raise BlockedAddressError(msg) from None
    method, content = request.method, request.content
    headers = httpx.Headers(request.headers)
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, content = "GET", b""
        headers.pop("content-type", None)
    if _origin(target) != _origin(request.url):
        for name in list(headers.keys()):
            if name.lower() in sensitive:
                del headers[name]
    return _Request(method, target, headers, content)


def _origin(url: httpx.URL) -> tuple[str, bytes, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.raw_host.lower(), url.port or default


def _not_connected(exc: Exception) -> bool:
    """A connect timed out, or was refused or reset: the request never went out.

    httpcore wraps the socket error as the first argument (its pool drops ``__cause__``).
    """
    if isinstance(exc, httpcore.ConnectTimeout):
        return True
    return any(isinstance(arg, ConnectionError) for arg in (*exc.args, exc.__cause__))


def _header(core: httpcore.Response, name: str) -> str | None:
    value = httpx.Headers(core.headers).get(name)
    return None if value is None else str(value)


def _charset(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
