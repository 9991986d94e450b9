"""Which network addresses the platform may connect to on a tenant's behalf (SSRF guard)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket


def address_allowed(address: str, allow_private: bool) -> bool:
    """Whether a connection to `address` is allowed: public unicast only, unless private ones are configured."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        return False
    if allow_private:
        return True
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or not ip.is_global)


async def resolved_addresses(host: str, port: int) -> list[str] | None:
    """The addresses `host` resolves to for a TCP connection, in the resolver's order; None when it does not."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def refused_addresses(host: str, port: int, allow_private: bool) -> list[str] | None:
    """The addresses `host` resolves to that are not allowed (empty when all are); None when it does not resolve."""
    addresses = await resolved_addresses(host, port)
    if addresses is None:
        return None
    return sorted(a for a in addresses if not address_allowed(a, allow_private))
