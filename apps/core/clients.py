"""Who is calling: the client address that rate limits and allow-lists judge.

REMOTE_ADDR is the peer of the TCP connection, the one address a client cannot choose.
X-Forwarded-For is written by whoever sends the request, so it is read only when the peer is
a proxy listed in settings.TRUSTED_PROXIES, and then only the hops those proxies appended.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(values: Iterable[str]) -> list[Network]:
    """Parse addresses or CIDR networks (settings validated them at start-up)."""
    return [ipaddress.ip_network(value, strict=False) for value in values]


def address_in(address: str, within: list[Network]) -> bool:
    ip = _parse(address)
    return ip is not None and any(ip in network for network in within)


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or behind trusted proxies the hop they saw."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = networks(settings.TRUSTED_PROXIES)
    if not proxies or not address_in(remote, proxies):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    # Each trusted proxy appends the address it received from, so reading from the right,
    # the first hop that is not one of ours is the client; anything left of it is hearsay.
    for hop in reversed(hops):
        if not address_in(hop, proxies):
            return hop if _parse(hop) is not None else remote
    return remote


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:192.0.2.1 is the IPv4 client 192.0.2.1
    return ip
