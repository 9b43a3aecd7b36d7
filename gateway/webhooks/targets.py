"""Which addresses a webhook may be sent to.

A webhook must never become a way into the internal network: its URL must be
``https`` (unless ``WEBHOOKS_ALLOW_HTTP``), and every address its host resolves to
must be a public one (unless ``WEBHOOKS_ALLOW_PRIVATE_TARGETS``): no loopback,
private, link-local, carrier-grade NAT, multicast, reserved or unspecified address,
IPv4 or IPv6 (an IPv4-mapped IPv6 address is judged as its IPv4). The host is
resolved again for every delivery and the connection goes to an address just
checked, so a name that later resolves elsewhere (DNS rebinding) is refused too.
"""
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import eventlet

from services.common.errors import Message

MAX_URL_LENGTH = 2000
RESOLVE_SECONDS = 5.0


class TargetRefused(Exception):
    """The URL may not be used; ``message`` is a ``Message`` for the ``url`` field."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class TargetPolicy:
    allow_http: bool = False
    allow_private: bool = False

    @classmethod
    def from_config(cls, config):
        return cls(allow_http=flag(config.get("WEBHOOKS_ALLOW_HTTP")),
                   allow_private=flag(config.get("WEBHOOKS_ALLOW_PRIVATE_TARGETS")))


def flag(value):
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with its query
    host_header: str


def parse(url, policy):
    """The parts of ``url``; ``TargetRefused`` if it is not a web address we may use."""
    from .messages import NOT_HTTPS, NOT_URL, URL_TOO_LONG

    if not isinstance(url, str) or not url.strip():
        raise TargetRefused(NOT_URL)
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(URL_TOO_LONG.format(max=MAX_URL_LENGTH))
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise TargetRefused(NOT_URL) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or any(
            c.isspace() for c in url.strip()):
        raise TargetRefused(NOT_URL)
    if scheme == "http" and not policy.allow_http:
        raise TargetRefused(NOT_HTTPS)
    if parts.username is not None or parts.password is not None:
        raise TargetRefused(NOT_URL)
    port = port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, parts.hostname, port, path, parts.netloc)


def public_address(address):
    """True if ``address`` (text) is on the public internet."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(target, policy):
    """The addresses of ``target``'s host, every one checked: ``TargetRefused`` if it
    does not resolve or one of them is not public (unless private ones are allowed)."""
    from .messages import PRIVATE_TARGET, UNRESOLVED

    try:
        with eventlet.Timeout(RESOLVE_SECONDS):
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, eventlet.Timeout):
        raise TargetRefused(UNRESOLVED.format(host=target.host)) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise TargetRefused(UNRESOLVED.format(host=target.host))
    if not policy.allow_private:
        for address in addresses:
            if not public_address(address):
                raise TargetRefused(PRIVATE_TARGET.format(host=target.host))
    return addresses


def check(url, policy):
    """``url`` checked now (parsed and resolved); its ``Target``."""
    target = parse(url, policy)
    resolve(target, policy)
    return target
