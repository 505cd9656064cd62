"""Where a job's webhook may POST: public addresses only, unless its host is named in
``TABLECRON["WEBHOOK_ALLOWED_HOSTS"]``.

A webhook's URL is typed by whoever may edit jobs, and the scheduler POSTs to it from
inside your network: unchecked, it could be made to reach 127.0.0.1, a cloud's metadata
service (169.254.169.254) or any private address (server-side request forgery). So:

- the field refuses a URL whose host is written as such an address, in any form the
  resolver reads (``[::ffff:127.0.0.1]``, ``2130706433``, ``0x7f.1``), or is localhost;
- at send time the host is resolved, refused if any of its addresses is internal, and
  the connection goes to an address that was checked, with the name kept for the Host
  header and TLS: a name that resolves anew in between (DNS rebinding) cannot move it;
- no redirect is followed: a 3xx answer is a failed delivery.

A 4xx answer other than 408 and 429 (a revoked URL's 404) is final: ``WebhookRejected``,
not retried. A 5xx, a timeout or a refused connection is retried, with the host backed
off (``tablecron.courier``).

An address is internal unless it is globally reachable (``ipaddress``' ``is_global``)
and neither multicast nor reserved; an IPv4-mapped IPv6 address is judged as its IPv4.
Webhooks are sent directly, not through a proxy that the environment names.
"""

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

from tablecron.conf import settings
from tablecron.exceptions import WebhookFailed, WebhookRefused, WebhookRejected

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# What socket.getaddrinfo() yields: family, type, proto, canonical name, socket address.
AddressInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]


def is_public(address: Address) -> bool:
    """Whether a webhook may reach ``address`` without its host being allowed by name."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    internal = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or getattr(address, "is_site_local", False)
        # 6to4 (2002::/16) wraps any IPv4 address, 127.0.0.1 too: Python before 3.12.4
        # calls all of it global, later ones private. Internal on every Python.
        or (isinstance(address, ipaddress.IPv6Address) and address.sixtofour is not None)
    )
    return address.is_global and not internal


def literal_address(host: str) -> Address | None:
    """The address ``host`` is written as, in any form the resolver reads (``::1``,
    ``127.0.0.1``, ``2130706433``, ``0x7f.1``), or None when it is a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))  # the legacy forms
    except (OSError, ValueError):
        return None


def _normal(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def allowed_host(host: str) -> bool:
    """Whether ``WEBHOOK_ALLOWED_HOSTS`` names ``host``: it may then be internal."""
    return _normal(host) in {_normal(name) for name in settings.WEBHOOK_ALLOWED_HOSTS}


def refusal(url: str) -> str:
    """Why a webhook field may not hold ``url``, judged from the URL alone (no lookup),
    or "" when it may."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return ""  # not a URL: the URL validator says so
    if not host or allowed_host(host):
        return ""
    address = literal_address(host)
    if address is None:  # a name: resolved when sent, but localhost is never public
        name = _normal(host)
        if name != "localhost" and not name.endswith(".localhost"):
            return ""
    elif is_public(address):
        return ""
    return _(
        "%(host)s is an internal address (loopback, private, link-local, multicast or "
        "reserved): notifications go to public hosts only, or to hosts the site allows "
        'in TABLECRON["WEBHOOK_ALLOWED_HOSTS"].'
    ) % {"host": host}


def resolve(host: str, port: int) -> Sequence[AddressInfo]:
    """The addresses to connect to for ``host``; ``WebhookRefused`` if any is internal
    and the host is not allowed by name."""
    found: Sequence[AddressInfo] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not allowed_host(host):
        for *_, sockaddr in found:
            address = ipaddress.ip_address(sockaddr[0])
            if not is_public(address):
                raise WebhookRefused(
                    f"{host} resolves to {address}, an internal address: not sent (name the "
                    f'host in TABLECRON["WEBHOOK_ALLOWED_HOSTS"] to allow it)'
                )
    return found


def _connect(addresses: Sequence[AddressInfo], timeout: float | None) -> socket.socket:
    """A socket connected to the first of ``addresses`` that answers."""
    error: OSError = OSError("no address to connect to")
    for family, kind, proto, _name, sockaddr in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
        else:
            return sock
    raise error


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """Connects to the addresses checked, whatever the name resolves to by then."""

    def __init__(self, host: str, port: int, addresses: Sequence[AddressInfo], timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self.addresses, self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _CheckedHTTPSConnection(_CheckedHTTPConnection):
    """The same, over TLS: the certificate is verified for the host's name (SNI too)."""

    default_port = http.client.HTTPS_PORT

    def connect(self) -> None:
        super().connect()
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    """POST ``body`` to ``url``: ``WebhookRefused`` for an internal address or a
    redirect, ``WebhookRejected`` for a 4xx other than 408 and 429, ``WebhookFailed`` for
    another answer than 2xx, ``OSError`` if unreachable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(f"{url!r} is not an http:// or https:// URL")
    https = parts.scheme == "https"
    port = parts.port or (http.client.HTTPS_PORT if https else http.client.HTTP_PORT)
    addresses = resolve(parts.hostname, port)
    kind = _CheckedHTTPSConnection if https else _CheckedHTTPConnection
    connection = kind(parts.hostname, port, addresses, timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    if 300 <= response.status < 400:
        raise WebhookRefused(
            f"{parts.hostname} answered {response.status} {response.reason}: tablecron "
            "follows no redirect; give the URL it redirects to"
        )
    answer = f"{parts.hostname} answered {response.status} {response.reason}"
    if 400 <= response.status < 500 and response.status not in (408, 429):
        raise WebhookRejected(answer)
    if not 200 <= response.status < 300:
        raise WebhookFailed(answer)
