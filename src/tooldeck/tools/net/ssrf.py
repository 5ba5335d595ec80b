"""The SSRF guard's rules: which URLs, host names and addresses the HTTP client may reach.

No I/O here. ``client.py`` parses the URL once, asks :func:`check_url` about it, resolves the
host, asks :func:`check_address` about *every* resolved address, and then connects only to
those addresses (``transport.py`` pins them). The rules:

* schemes: ``http`` and ``https`` only, also as redirect targets; no userinfo (``user@host``);
* host names: single-label names (``intranet``, ``metadata``: resolved through local search
  domains) and internal suffixes (``localhost``, ``*.local``, ``*.internal``, ...) are refused
  before any lookup; numeric hosts are parsed the way libc and browsers do (``127.1``,
  ``0x7f.1``, ``017700000001``, ``2130706433``, ``0``), so they never reach a resolver;
* addresses: only globally routable unicast passes; IPv6 forms that embed an IPv4 address
  (mapped, compatible, NAT64, 6to4) are judged by the embedded address; cloud metadata
  addresses are refused by name of the address even where they look public (Azure's
  168.63.129.16).

Tests reach loopback servers only through :func:`allow_addresses_for_tests`, which exempts
exact addresses while the ``with`` block lasts; nothing in ``src/`` enables it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tooldeck.tools.net.errors import BlockedAddressError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "IPAddress",
    "address_refusal",
    "allow_addresses_for_tests",
    "check_address",
    "check_url",
    "display_url",
    "literal_address",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEMES = frozenset({"http", "https"})

# Names refused exactly and as a suffix ("local" refuses "x.svc.cluster.local").
_BLOCKED_NAMES = frozenset(
    {
        "localhost",
        "localdomain",
        "local",
        "internal",  # metadata.google.internal, ec2.internal
        "arpa",  # home.arpa, reverse-lookup zones
        "lan",
        "intranet",
        "corp",
        "svc",  # kubernetes.default.svc
        "invalid",
        "instance-data",
    }
)

_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "168.63.129.16",  # Azure WireServer (a public-looking address)
    )
)

_V4_BLOCKED = tuple(
    (ipaddress.IPv4Network(net), label)
    for net, label in (
        ("0.0.0.0/8", "an unspecified ('this network') address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a 6to4 relay address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)

_V6_BLOCKED = tuple(
    (ipaddress.IPv6Network(net), label)
    for net, label in (
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("100::/64", "a discard-only address"),
        ("2001::/23", "an IETF protocol address (Teredo, benchmarking, ORCHID)"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("5f00::/16", "an SRv6 address"),
        ("fc00::/7", "a unique-local address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    )
)

_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_COMPAT = ipaddress.IPv6Network("::/96")
_V6_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")
# WHATWG URL: a host whose last label is a number is parsed as IPv4 (or is an error).
_ENDS_IN_NUMBER = re.compile(r"(^|\.)(0x[0-9a-f]*|[0-9]+)$")

_test_allowed: frozenset[IPAddress] = frozenset()
_test_lock = threading.Lock()


def display_url(url: httpx.URL) -> str:
    """The URL for messages: no userinfo, query or fragment (they may carry secrets)."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"


def check_url(url: httpx.URL, blocked_names: Iterable[str] = ()) -> tuple[str, IPAddress | None]:
    """Check a URL's scheme, userinfo and host before anything is resolved or connected.

    Args:
        url: The parsed URL (the same object the request is then built from).
        blocked_names: Names refused on top of the built-in ones, exactly and as suffixes.

    Returns:
        The host as sent on the wire (ASCII, lower case) and, for a numeric host, its address.

    Raises:
        BlockedAddressError: The scheme, userinfo, host name or numeric address is refused.
    """
    shown = display_url(url) if url.scheme in _SCHEMES else f"a {url.scheme or 'relative'}: URL"
    if url.scheme not in _SCHEMES:
        msg = f"refused {shown}: only http and https URLs may be fetched"
        raise BlockedAddressError(msg)
    if url.userinfo:
        msg = f"refused {shown}: URLs with user info (user@host) are not allowed"
        raise BlockedAddressError(msg)
    host = url.raw_host.decode("ascii").lower()
    if not host:
        msg = f"refused {shown}: the URL has no host"
        raise BlockedAddressError(msg)
    literal = literal_address(host)
    if literal is None:
        _check_name(host, blocked_names, shown)
    else:
        check_address(literal, shown)
    return host, literal


def literal_address(host: str) -> IPAddress | None:
    """The address a numeric host stands for, parsed as libc and browsers do, else ``None``.

    ``127.1``, ``0x7f.1``, ``017700000001``, ``2130706433`` and ``0`` are IPv4 addresses;
    a bracket-less IPv6 literal (as :attr:`httpx.URL.raw_host` gives it) is IPv6.

    Raises:
        BlockedAddressError: The host looks numeric but is not a valid address.
    """
    if ":" in host:
        try:
            return _unscoped(ipaddress.IPv6Address(host.replace("%25", "%", 1)))
        except ValueError:
            msg = f"refused host {host!r}: not a valid IPv6 address"
            raise BlockedAddressError(msg) from None
    name = host.removesuffix(".")
    if not _ENDS_IN_NUMBER.search(name):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except OSError:
        msg = f"refused host {host!r}: a malformed numeric address"
        raise BlockedAddressError(msg) from None


def check_address(address: str | IPAddress, shown: str) -> IPAddress:
    """Refuse an address the client must not connect to.

    Args:
        address: A resolved (or literal) address.
        shown: The URL or host, for the message.

    Returns:
        The address, parsed.

    Raises:
        BlockedAddressError: The address is not a public unicast address.
    """
    try:
        ip = address if not isinstance(address, str) else ipaddress.ip_address(address)
    except ValueError:
        msg = f"refused {shown}: the resolver returned {address!r}, not an address"
        raise BlockedAddressError(msg) from None
    ip = _unscoped(ip)
    reason = address_refusal(ip)
    if reason is not None:
        msg = f"refused {shown}: {ip} is {reason}"
        raise BlockedAddressError(msg)
    return ip


def address_refusal(ip: IPAddress) -> str | None:
    """Why the client may not connect to ``ip`` (``None``: it may).

    Args:
        ip: The address.

    Returns:
        A short reason ("a loopback address"), or ``None`` for a public unicast address or one
        the test allowance exempts.
    """
    if ip in _test_allowed:
        return None
    if ip in _METADATA:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv4Address):
        for net4, label in _V4_BLOCKED:
            if ip in net4:
                return label
        return None if ip.is_global else "not a globally routable address"
    for net6, label in _V6_BLOCKED:
        if ip in net6:
            return label
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        reason = address_refusal(embedded)
        return None if reason is None else f"{reason} ({embedded}) inside an IPv6 address"
    return None if ip in _V6_GLOBAL_UNICAST else "not a global unicast address"


@contextmanager
def allow_addresses_for_tests(addresses: Iterable[str]) -> Iterator[None]:
    """Let the client reach these exact addresses while the block lasts. Tests only.

    Process-wide (tools run on worker threads), restored on exit. Only the addresses are
    exempt: names such as ``localhost`` stay refused, and so does every other address a
    redirect may point to. Refuses to work outside a pytest run.

    Args:
        addresses: Exact addresses, e.g. ``{"127.0.0.1"}``.

    Raises:
        RuntimeError: pytest is not running.
    """
    global _test_allowed
    if "pytest" not in sys.modules:
        msg = "allow_addresses_for_tests is for test suites only"
        raise RuntimeError(msg)
    added = frozenset(_unscoped(ipaddress.ip_address(a)) for a in addresses)
    with _test_lock:
        previous = _test_allowed
        _test_allowed = previous | added
    try:
        yield
    finally:
        with _test_lock:
            _test_allowed = previous


def _check_name(host: str, blocked_names: Iterable[str], shown: str) -> None:
    name = host.removesuffix(".")
    if not _HOST_NAME.fullmatch(name):
        msg = f"refused {shown}: {host!r} is not a valid host name"
        raise BlockedAddressError(msg)
    if "." not in name:
        msg = f"refused {shown}: single-label host names resolve to local machines"
        raise BlockedAddressError(msg)
    for blocked in (*_BLOCKED_NAMES, *(b.lower().strip(".") for b in blocked_names)):
        if name == blocked or name.endswith("." + blocked):
            msg = f"refused {shown}: {name!r} is an internal host name"
            raise BlockedAddressError(msg)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _V6_COMPAT or ip in _V6_NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _unscoped(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        return ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    return ip
