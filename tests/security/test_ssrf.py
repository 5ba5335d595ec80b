"""The SSRF battery: every target refused with a typed error, fast, with zero connections.

Connections are counted at the socket level (``socket.socket.connect`` is wrapped), and name
lookups through ``socket.getaddrinfo`` are recorded, so a refusal that happened only after
touching the network would fail here. Loopback servers are reached through the test
allowance only; redirect targets are judged by the real policy.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tooldeck.tools.net import (
    BlockedAddressError,
    NetPolicy,
    NetworkError,
    NetworkTimeoutError,
    Retries,
    Timeouts,
    TooManyRedirectsError,
    allow_addresses_for_tests,
    fetch,
)
from tooldeck.tools.net import client as net_client
from tooldeck.tools.net.testing import LoopbackServer, SeenRequest, reply

LOOPBACK = {"127.0.0.1"}
FAST = Timeouts(connect_s=0.5, read_s=1.0, total_s=2.0)

# Refused by the default policy before any lookup or connection.
DEFAULT_POLICY_TARGETS = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://017700000001/",
    "http://0177.0.0.1/",
    "http://0/",
    "http://0.0.0.0/",
    "http://127.0.0.1./",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://100.100.100.200/latest/meta-data/",
    "http://192.0.0.192/opc/v2/instance/",
    "http://168.63.129.16/machine",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://instance-data.ec2.internal/",
    "http://metadata/",
    "http://intranet/",
    "http://x.svc.cluster.local/",
    "https://kubernetes.default.svc/",
    "http://printer.local/",
    "http://10.0.0.1/",
    "http://10.255.255.254:8080/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.0.1/",
    "http://192.168.1.1:8443/admin",
    "http://100.64.0.1/",
    "http://100.127.255.254/",
    "http://[::ffff:10.0.0.1]/",
    "http://[fc00::1]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://[2001::1]/",
    "http://[2001:db8::1]/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://192.0.2.1/",
    "http://198.18.0.1/",
    "http://203.0.113.9/",
    "file:///etc/passwd",
    "file://localhost/etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "gopher://example.com/",
    "ftp://ftp.example.com/pub/",
    "data:text/html,<script>alert(1)</script>",
    "javascript:alert(1)",
    "dict://127.0.0.1:11211/stats",
    "ldap://127.0.0.1/",
    "http://user@127.0.0.1/",
    "http://user:secret@example.com/",
    "http://example.com\\@127.0.0.1/",
    "http:///etc/passwd",
    "not a url",
]

# Public-looking names whose resolver answer is private: name -> addresses.
RESOLVED_TARGETS = {
    "www.example.com": ["127.0.0.1"],
    "mixed.example.com": ["93.184.215.14", "10.0.0.5"],
    "mixed6.example.com": ["2606:4700::1111", "fd12::1"],
    "v6.example.com": ["::1"],
    "mapped.example.com": ["::ffff:169.254.169.254"],
    "meta.example.com": ["169.254.169.254"],
    "cgnat.example.com": ["100.64.1.1"],
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "garbage.example.com": ["not-an-address"],
}


class FakeResolver:
    """A dict-backed resolver that counts calls."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address a socket tried to connect to during the test."""
    seen: list[Any] = []
    inner = socket.socket.connect

    def recording(self: socket.socket, address: Any) -> Any:
        seen.append(address)
        return inner(self, address)

    monkeypatch.setattr(socket.socket, "connect", recording)
    monkeypatch.setattr(socket.socket, "connect_ex", recording)
    return seen


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Host names (not numeric addresses) passed to getaddrinfo; each lookup fails."""
    names: list[str] = []
    inner = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            ipaddress.ip_address(str(host).split("%")[0])
        except ValueError:
            names.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, "no DNS in tests") from None
        return inner(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    return names


def _refused(url: str, **kwargs: Any) -> BlockedAddressError:
    start = time.perf_counter()
    with pytest.raises(BlockedAddressError) as caught:
        fetch(url, timeout=FAST, **kwargs)
    assert time.perf_counter() - start < 1.0
    return caught.value


def test_battery_has_at_least_45_targets() -> None:
    assert len(DEFAULT_POLICY_TARGETS) + len(RESOLVED_TARGETS) >= 45


@pytest.mark.parametrize("url", DEFAULT_POLICY_TARGETS)
def test_default_policy_refuses_before_any_lookup_or_connection(
    url: str, connects: list[Any], lookups: list[str]
) -> None:
    _refused(url)
    assert connects == []
    assert lookups == []


@pytest.mark.parametrize("host", sorted(RESOLVED_TARGETS))
def test_name_resolving_to_any_blocked_address_is_refused(host: str, connects: list[Any]) -> None:
    resolver = FakeResolver(RESOLVED_TARGETS)
    _refused(f"http://{host}/", policy=NetPolicy(resolver=resolver))
    assert resolver.calls == [host]
    assert connects == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.1/", "127.0.0.1 is a loopback address"),
        ("http://0x7f.1/", "127.0.0.1 is a loopback address"),
        ("http://0/", "0.0.0.0 is an unspecified"),
        ("http://169.254.169.254/", "cloud metadata"),
        ("http://[::ffff:10.0.0.1]/", "private address (10.0.0.1) inside an IPv6 address"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://metadata.google.internal/", "internal host name"),
        ("http://intranet/", "single-label"),
        ("file:///etc/passwd", "only http and https"),
        ("http://user@127.0.0.1/", "user info"),
    ],
)
def test_refusals_say_why(url: str, reason: str) -> None:
    assert reason in str(_refused(url))


def test_error_messages_hide_userinfo_and_query() -> None:
    message = str(_refused("http://user:hunter2@example.com/?api_key=s3cret"))
    assert "hunter2" not in message
    assert "s3cret" not in message


def test_extra_blocked_names_refuse_exactly_and_as_suffix(lookups: list[str]) -> None:
    policy = NetPolicy(blocked_names=frozenset({"corp.example"}))
    _refused("http://corp.example/", policy=policy)
    _refused("http://git.corp.example/", policy=policy)
    assert lookups == []


def test_the_allowance_exempts_only_its_addresses_and_only_inside_the_block(
    connects: list[Any],
) -> None:
    with LoopbackServer(lambda req, conn: reply(conn, 200, b"ok")) as server:
        with allow_addresses_for_tests(LOOPBACK):
            assert fetch(server.url + "/", timeout=FAST).content == b"ok"
            _refused(f"http://localhost:{server.port}/")  # names stay refused
            _refused(f"http://127.0.0.2:{server.port}/")  # other loopback addresses too
        _refused(server.url + "/")
    assert connects == [("127.0.0.1", server.port)]


def test_the_allowance_nests_and_restores() -> None:
    with allow_addresses_for_tests({"127.0.0.1"}):
        with allow_addresses_for_tests({"::1"}):
            pass
        with pytest.raises(BlockedAddressError):
            fetch("http://[::1]:9/", timeout=FAST)
    _refused("http://127.0.0.1:9/")


def test_the_allowance_refuses_to_work_outside_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.delitem(sys.modules, "pytest")
    with pytest.raises(RuntimeError), allow_addresses_for_tests(LOOPBACK):
        pass


def test_no_production_code_enables_the_allowance() -> None:
    import ast

    src = Path(__file__).resolve().parents[2] / "src" / "tooldeck"
    callers = []
    for path in src.rglob("*.py"):
        text = path.read_text("utf-8")
        if "allow_addresses_for_tests" not in text:
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name == "allow_addresses_for_tests":
                    callers.append(path)
    assert callers == []


# --- redirects: the first hop allowed by the allowance, every next hop by the real policy ---


def _redirecting(location: str) -> Any:
    def handler(request: SeenRequest, conn: socket.socket) -> None:
        reply(conn, 302, headers={"Location": location})

    return handler


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "//169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://10.0.0.1/",
        "http://[::1]:{port}/",
        "http://localhost:{port}/",
        "http://user@127.0.0.1:{port}/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "ftp://example.com/",
        "data:text/plain,hi",
    ],
)
def test_redirect_targets_are_checked_by_the_real_policy(
    location: str, connects: list[Any], lookups: list[str]
) -> None:
    handler = _redirecting(location)
    with LoopbackServer(lambda req, conn: handler(req, conn)) as server:
        handler = _redirecting(location.format(port=server.port))
        with allow_addresses_for_tests(LOOPBACK):
            _refused(server.url + "/start")
    assert len(server.requests) == 1
    assert connects == [("127.0.0.1", server.port)]
    assert lookups == []


def _chain(request: SeenRequest, conn: socket.socket) -> None:
    hop, _, end = request.path.removeprefix("/hop/").partition("/")
    if int(hop) >= int(end):
        reply(conn, 200, b"arrived")
    else:
        reply(conn, 302, headers={"Location": f"/hop/{int(hop) + 1}/{end}"})


def test_an_11_hop_redirect_chain_stops_after_5_redirects(connects: list[Any]) -> None:
    with LoopbackServer(_chain) as server, allow_addresses_for_tests(LOOPBACK):
        start = time.perf_counter()
        with pytest.raises(TooManyRedirectsError, match="more than 5 redirects"):
            fetch(server.url + "/hop/0/11", timeout=FAST)
        assert time.perf_counter() - start < 1.0
    assert [r.path for r in server.requests] == [f"/hop/{i}/11" for i in range(6)]
    assert {address for address in connects} == {("127.0.0.1", server.port)}


def test_exactly_5_redirects_are_followed() -> None:
    with LoopbackServer(_chain) as server, allow_addresses_for_tests(LOOPBACK):
        response = fetch(server.url + "/hop/0/5", timeout=FAST)
    assert response.content == b"arrived"
    assert response.redirects == tuple(f"{server.url}/hop/{i}/5" for i in range(5))
    assert response.url == f"{server.url}/hop/5/5"


# --- pinning: one resolution, connect to the checked address, TLS for the name ---


def test_the_name_is_resolved_once_across_retries_and_redirects(connects: list[Any]) -> None:
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])  # a rebinding resolver
    calls: list[str] = []

    def rebinding(host: str) -> list[str]:
        calls.append(host)
        return next(answers)

    def handler(request: SeenRequest, conn: socket.socket) -> None:
        if request.path == "/end":
            reply(conn, 200, b"same host")
        elif len(server.requests) == 1:
            reply(conn, 503, headers={"Retry-After": "0"})
        else:
            reply(conn, 302, headers={"Location": "/end"})

    policy = NetPolicy(resolver=rebinding, retries=Retries(attempts=2, backoff_s=0.01))
    with LoopbackServer(handler) as server, allow_addresses_for_tests(LOOPBACK):
        host = f"public.example:{server.port}"
        response = fetch(f"http://{host}/start", policy=policy, timeout=FAST)
    assert response.content == b"same host"
    assert [r.path for r in server.requests] == ["/start", "/start", "/end"]
    assert calls == ["public.example"]  # once per call: never again per retry or hop
    assert {r.headers["host"] for r in server.requests} == {host}
    assert {address[0] for address in connects} == {"127.0.0.1"}


def test_a_slow_resolver_stops_at_the_connect_timeout() -> None:
    release = threading.Event()

    def stuck(host: str) -> list[str]:
        release.wait(5)
        return ["93.184.215.14"]

    start = time.perf_counter()
    try:
        with pytest.raises(NetworkTimeoutError, match="resolving"):
            fetch(
                "http://slow.example/",
                policy=NetPolicy(resolver=stuck),
                timeout=Timeouts(connect_s=0.2, read_s=1, total_s=2),
            )
    finally:
        release.set()
    assert time.perf_counter() - start < 1.0


def test_an_unknown_name_is_a_network_error_not_a_crash(connects: list[Any]) -> None:
    with pytest.raises(NetworkError, match="cannot resolve"):
        fetch("http://nowhere.example/", policy=NetPolicy(resolver=FakeResolver({})))
    assert connects == []


CERT = """-----BEGIN CERTIFICATE-----
MIIBgDCCASagAwIBAgIBATAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5wdWJsaWMu
ZXhhbXBsZTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowGTEXMBUG
A1UEAwwOcHVibGljLmV4YW1wbGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQM
4AznEAZYo2UBKr1ixMzkdzceoDw/9DHhNpp63y8EEm1MEjbHVWi6Vo0zMcCVpISA
wMaBO6bNpwGjM2uz5G1Po10wWzAZBgNVHREEEjAQgg5wdWJsaWMuZXhhbXBsZTAP
BgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIChDAdBgNVHQ4EFgQUbOCon3WM
FMZoJuyDmiDs1057fwcwCgYIKoZIzj0EAwIDSAAwRQIhAPt9mFkLfFWurSTz0l4W
Lxr7+pi1Ry6uEva3HeRQGH3LAiA2Yit/lt4ucXIERFyIzLmqkZNuz4fMifleh5TS
Rv9TdQ==
-----END CERTIFICATE-----
"""
KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQggur398KpjRnRVDpo
R+5uXfbKQHBelfhrSH6+mPYgXFyhRANCAAQM4AznEAZYo2UBKr1ixMzkdzceoDw/
9DHhNpp63y8EEm1MEjbHVWi6Vo0zMcCVpISAwMaBO6bNpwGjM2uz5G1P
-----END PRIVATE KEY-----
"""


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A TLS loopback server for ``public.example`` that the client trusts; records SNI."""
    (tmp_path / "cert.pem").write_text(CERT)
    (tmp_path / "key.pem").write_text(KEY)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    sni: list[str | None] = []

    def record_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        sni.append(name)

    server_ctx.sni_callback = record_sni
    client_ctx = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    monkeypatch.setattr(net_client, "_ssl_context", lambda: client_ctx)
    with LoopbackServer(lambda req, conn: reply(conn, 200, b"tls ok"), tls=server_ctx) as server:
        server.sni = sni  # type: ignore[attr-defined]
        yield server


def test_tls_goes_to_the_pinned_address_with_sni_and_certificate_for_the_name(
    tls_server: Any, connects: list[Any]
) -> None:
    policy = NetPolicy(resolver=FakeResolver({"public.example": ["127.0.0.1"]}))
    with allow_addresses_for_tests(LOOPBACK):
        response = fetch(f"https://public.example:{tls_server.port}/", policy=policy)
    assert response.content == b"tls ok"
    assert tls_server.sni == ["public.example"]
    assert tls_server.requests[0].headers["host"] == f"public.example:{tls_server.port}"
    assert connects == [("127.0.0.1", tls_server.port)]


def test_tls_verifies_the_certificate_against_the_name_not_the_address(tls_server: Any) -> None:
    policy = NetPolicy(
        resolver=FakeResolver({"other.example": ["127.0.0.1"]}), retries=Retries(attempts=1)
    )
    with allow_addresses_for_tests(LOOPBACK), pytest.raises(NetworkError, match="certificate"):
        fetch(f"https://other.example:{tls_server.port}/", policy=policy)
