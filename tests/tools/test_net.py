"""The guarded HTTP client's parts: address rules, retry rule, decoder, response, API shape.

The SSRF battery and the limits against misbehaving servers live in ``tests/security``.
"""

from __future__ import annotations

import gzip
import ipaddress
import socket
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpcore
import httpx
import pytest

from tooldeck.errors import ToolExecutionError
from tooldeck.tools.net import (
    BlockedAddressError,
    ContentTypeError,
    HTTPStatusError,
    NetworkError,
    NetworkTimeoutError,
    Response,
    ResponseTooLargeError,
    Retries,
    Timeouts,
    TooManyRedirectsError,
    allow_addresses_for_tests,
    fetch,
    stream,
)
from tooldeck.tools.net.body import CappedDecoder, check_content_type
from tooldeck.tools.net.policy import parse_retry_after, retry_delay
from tooldeck.tools.net.ssrf import address_refusal, check_url, literal_address
from tooldeck.tools.net.testing import LoopbackServer, SeenRequest, reply
from tooldeck.tools.net.transport import Deadline, PinnedBackend

FAST = Timeouts(connect_s=0.5, read_s=1.0, total_s=2.0)


# --- address rules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("10.1", "10.0.0.1"),
        ("8.8.8.8.", "8.8.8.8"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("fe80::1%25eth0", "fe80::1"),
    ],
)
def test_numeric_hosts_are_parsed_like_libc_and_browsers(host: str, address: str) -> None:
    assert literal_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "cafe.face", "1.example", "xn--bcher-kva.de"])
def test_names_are_not_numeric(host: str) -> None:
    assert literal_address(host) is None


@pytest.mark.parametrize("host", ["1.2.3.4.5", "1.2.3.09", "0x1g.1", "::1::2"])
def test_malformed_numeric_hosts_are_refused(host: str) -> None:
    with pytest.raises(BlockedAddressError, match="not a valid|malformed"):
        literal_address(host)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e",
        "::ffff:8.8.8.8",  # mapped public
        "64:ff9b::808:808",  # NAT64 of public
        "2002:808:808::1",  # 6to4 of public
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("169.254.169.254", "cloud metadata"),
        ("168.63.129.16", "cloud metadata"),
        ("224.0.0.251", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("::ffff:192.168.0.1", "private address (192.168.0.1) inside an IPv6"),
        ("::10.0.0.1", "private address (10.0.0.1) inside an IPv6"),
        ("64:ff9b::7f00:1", "loopback address (127.0.0.1) inside an IPv6"),
        ("2002:a00:1::", "private address (10.0.0.1) inside an IPv6"),
        ("64:ff9b:1::1", "local-use NAT64"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("fd12:3456::1", "unique-local"),
        ("fec0::1", "site-local"),
        ("100::1", "discard-only"),
        ("4000::1", "not a global unicast"),
    ],
)
def test_blocked_addresses_name_their_reason(address: str, reason: str) -> None:
    refusal = address_refusal(ipaddress.ip_address(address))
    assert refusal is not None
    assert reason in refusal


def test_check_url_returns_the_wire_host_and_any_literal() -> None:
    assert check_url(httpx.URL("https://Example.COM/x")) == ("example.com", None)
    with allow_addresses_for_tests({"127.0.0.1"}):
        assert check_url(httpx.URL("http://127.1:8/")) == (
            "127.1",
            ipaddress.ip_address("127.0.0.1"),
        )


# --- retry rule -----------------------------------------------------------------------


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        ("soon", None),
        ("-1", None),
        ("1.5", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_backoff_doubles_with_jitter_and_stops_at_the_last_attempt() -> None:
    rule = Retries(attempts=4, backoff_s=1.0, max_delay_s=3.0)
    for _ in range(20):
        first, second, third = (retry_delay(rule, n) for n in (1, 2, 3))
        assert first is not None and 0.5 <= first <= 1.0
        assert second is not None and 1.0 <= second <= 2.0
        assert third is not None and 1.5 <= third <= 3.0  # capped at max_delay_s
    assert retry_delay(rule, 4) is None


def test_retry_after_is_a_floor_and_beyond_the_cap_gives_up() -> None:
    rule = Retries(attempts=3, backoff_s=0.01, max_delay_s=5.0)
    assert retry_delay(rule, 1, "2") == 2.0
    assert retry_delay(rule, 1, "6") is None


def test_only_429_and_5xx_are_retried() -> None:
    rule = Retries()
    assert [
        s for s in (400, 401, 403, 404, 409, 429, 500, 502, 503, 504) if rule.retries_status(s)
    ] == [
        429,
        500,
        502,
        503,
        504,
    ]


# --- body -----------------------------------------------------------------------------


def _decode(encoding: str | None, data: bytes, limit: int = 1000, chunk: int = 7) -> bytes:
    decoder = CappedDecoder(encoding, limit, "http://x.example/")
    out = b"".join(decoder.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
    return out + decoder.flush()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        (None, lambda b: b),
        ("identity", lambda b: b),
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b, wbits=-zlib.MAX_WBITS)),  # raw deflate
        ("GZIP", gzip.compress),
    ],
)
def test_the_decoder_handles_identity_gzip_and_deflate(
    encoding: str | None, encode: object
) -> None:
    page = b"hello world " * 50
    assert callable(encode)
    assert _decode(encoding, encode(page)) == page


def test_the_cap_is_inclusive() -> None:
    assert _decode("gzip", gzip.compress(b"a" * 1000)) == b"a" * 1000
    with pytest.raises(ResponseTooLargeError, match="larger than 1000 bytes"):
        _decode("gzip", gzip.compress(b"a" * 1001))
    with pytest.raises(ResponseTooLargeError):
        _decode(None, b"a" * 1001)


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip", "compress"])
def test_unsupported_or_stacked_encodings_are_refused(encoding: str) -> None:
    with pytest.raises(NetworkError, match="unsupported content encoding"):
        CappedDecoder(encoding, 1000, "http://x.example/")


def test_a_corrupt_gzip_body_is_a_network_error() -> None:
    with pytest.raises(NetworkError, match="corrupt gzip"):
        _decode("gzip", b"not gzip at all")


def test_content_type_allowlist() -> None:
    check_content_type(None, None, "u")
    check_content_type("text/html; charset=utf-8", ["text/html"], "u")
    check_content_type("text/markdown", ["text/*"], "u")
    check_content_type("image/png", ["*/*"], "u")
    with pytest.raises(ContentTypeError, match="'application/pdf'"):
        check_content_type("application/pdf", ["text/*", "application/json"], "u")
    with pytest.raises(ContentTypeError, match="'\\(none\\)'"):
        check_content_type(None, ["text/html"], "u")


# --- response -------------------------------------------------------------------------


def test_response_text_json_and_content_type() -> None:
    headers = httpx.Headers({"Content-Type": 'Application/JSON; charset="utf-16"'})
    response = Response("https://x.example/a?k=secret", 200, headers, '{"a": 1}'.encode("utf-16"))
    assert response.content_type == "application/json"
    assert response.text() == '{"a": 1}'
    odd = Response("u", 200, httpx.Headers({"Content-Type": "text/plain; charset=nope"}), b"ok")
    assert odd.text() == "ok"
    with pytest.raises(ContentTypeError, match="not valid JSON") as caught:
        Response("https://x.example/a?k=secret", 200, httpx.Headers(), b"<html>").json()
    assert "secret" not in str(caught.value)


def test_errors_are_tool_execution_errors_with_status_details() -> None:
    for cls in (
        BlockedAddressError,
        ContentTypeError,
        HTTPStatusError,
        NetworkTimeoutError,
        ResponseTooLargeError,
        TooManyRedirectsError,
    ):
        assert issubclass(cls, NetworkError)
    assert issubclass(NetworkError, ToolExecutionError)
    error = HTTPStatusError("HTTP 404", status=404, url="https://x.example/")
    assert (error.status, error.url, str(error)) == (404, "https://x.example/", "HTTP 404")


# --- transport ------------------------------------------------------------------------


def test_the_deadline_clips_timeouts_and_raises_when_spent() -> None:
    assert Deadline(None).clip(3.0, httpcore.ReadTimeout) == 3.0
    clipped = Deadline(1.0).clip(3.0, httpcore.ReadTimeout)
    assert clipped is not None and 0.9 < clipped <= 1.0
    with pytest.raises(httpcore.ReadTimeout, match="total deadline of 0 s"):
        Deadline(0.0).clip(3.0, httpcore.ReadTimeout)


def test_the_backend_connects_only_to_pinned_hosts() -> None:
    backend = PinnedBackend(Deadline(1.0))
    with pytest.raises(httpcore.ConnectError, match="no address checked"):
        backend.connect_tcp("example.com", 80)
    with pytest.raises(httpcore.ConnectError, match="unix sockets"):
        backend.connect_unix_socket("/var/run/docker.sock")


# --- the API against a loopback server ------------------------------------------------


def _echo(request: SeenRequest, conn: socket.socket) -> None:
    if request.method == "HEAD":
        reply(conn, 200, b"", {"Content-Length": str(3 * 1024 * 1024)})
    elif request.path.startswith("/big"):
        reply(conn, 200, b"z" * (3 * 1024 * 1024), {"Content-Type": "application/octet-stream"})
    else:
        reply(conn, 200, request.body or request.path.encode(), {"Content-Type": "text/plain"})


@pytest.fixture
def echo() -> Iterator[LoopbackServer]:
    with LoopbackServer(_echo) as server, allow_addresses_for_tests({"127.0.0.1"}):
        yield server


def test_params_are_added_to_the_query(echo: LoopbackServer) -> None:
    response = fetch(echo.url + "/s?lang=en", params={"q": "a b", "n": 3}, timeout=FAST)
    assert response.text() == "/s?lang=en&q=a+b&n=3"
    assert response.url == echo.url + "/s?lang=en&q=a+b&n=3"
    assert response.redirects == ()


def test_json_bodies_are_posted(echo: LoopbackServer) -> None:
    response = fetch(echo.url + "/api", method="post", json={"q": "x"}, timeout=FAST)
    assert response.json() == {"q": "x"}
    seen = echo.requests[0]
    assert (seen.method, seen.headers["content-type"]) == ("POST", "application/json")
    assert seen.headers["user-agent"].startswith("tooldeck/")


def test_stream_reads_past_the_default_cap_when_asked(echo: LoopbackServer) -> None:
    with pytest.raises(ResponseTooLargeError):
        fetch(echo.url + "/big", timeout=FAST)
    with stream(
        echo.url + "/big",
        headers={"Accept-Encoding": "identity"},
        max_bytes=4 * 1024 * 1024,
        timeout=Timeouts(connect_s=0.5, read_s=1.0, total_s=None),
    ) as response:
        assert response.status == 200
        total = sum(len(chunk) for chunk in response.iter_bytes())
    assert total == 3 * 1024 * 1024
    assert echo.requests[-1].headers["accept-encoding"] == "identity"


def test_head_is_not_refused_for_the_length_it_announces(echo: LoopbackServer) -> None:
    response = fetch(echo.url + "/big", method="HEAD", timeout=FAST)
    assert (response.status, response.content) == (200, b"")
    assert response.headers["content-length"] == str(3 * 1024 * 1024)


def test_an_invalid_url_is_refused_not_crashed() -> None:
    with pytest.raises(BlockedAddressError, match="not a valid URL"):
        fetch("http://[::1", timeout=FAST)
