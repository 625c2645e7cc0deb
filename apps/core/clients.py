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
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in within)


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
            return hop if _is_ip(hop) else remote
    return remote


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
