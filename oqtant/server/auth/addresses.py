"""The address a request comes from, believing forwarded-for headers only from trusted proxies.

The direct peer of the connection is the client, unless it is one of the
configured proxies (``OQTANT_TRUSTED_PROXIES``). Then the configured header
(``X-Forwarded-For``, or RFC 7239 ``Forwarded``) is read from the right: each
proxy appends the address it saw, so the first address that is not itself a
trusted proxy is the client. What a client writes further left is never used.

IPv6 clients are counted by their /64 network: one host usually holds a whole one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from fastapi import Request

from oqtant.settings import IPNetwork

__all__ = ["address_key", "client_address", "forwarded_chain", "is_https"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(text: str) -> IPAddress | None:
    """An address from a header element: ``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``::1``."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def forwarded_chain(request: Request, header: str) -> list[str]:
    """The addresses the proxies recorded, leftmost (farthest) first, as written."""
    values = request.headers.getlist(header)
    elements = [e for value in values for e in value.split(",")]
    if header == "x-forwarded-for":
        return [e.strip() for e in elements if e.strip()]
    chain = []
    for element in elements:  # for=...;proto=...;by=...
        for pair in element.split(";"):
            name, _, value = pair.strip().partition("=")
            if name.lower() == "for":
                chain.append(value.strip())
    return chain


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in proxies)


def client_address(request: Request) -> IPAddress | None:
    """The client's address (None when the peer is unknown, e.g. a test transport)."""
    peer = _parse(request.client.host) if request.client else None
    settings = request.app.state.settings
    proxies = settings.trusted_proxy_networks
    if peer is None or not _trusted(peer, proxies):
        return peer
    client = peer
    for element in reversed(forwarded_chain(request, settings.forwarded_header)):
        hop = _parse(element)
        if hop is None:  # garbage a proxy passed on: keep the last address we can believe
            break
        client = hop
        if not _trusted(hop, proxies):
            break
    return client


def address_key(request: Request) -> str:
    """The limiter key of the request's address: ``ip:1.2.3.4`` or ``ip:2001:db8::/64``."""
    address = client_address(request)
    if address is None:
        return f"ip:{request.client.host if request.client else '-'}"
    if isinstance(address, ipaddress.IPv6Address):
        return f"ip:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


def _forwarded_protos(request: Request, header: str) -> list[str]:
    """The schemes the proxies recorded (``X-Forwarded-Proto``, or ``proto=`` of Forwarded)."""
    if header == "x-forwarded-for":
        values = request.headers.getlist("x-forwarded-proto")
        return [p.strip() for value in values for p in value.split(",")]
    protos = []
    for value in request.headers.getlist("forwarded"):
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, proto = pair.strip().partition("=")
                if name.lower() == "proto":
                    protos.append(proto.strip().strip('"'))
    return protos


def is_https(request: Request) -> bool:
    """True when the client reached us over HTTPS (directly, or as a trusted proxy says)."""
    if request.url.scheme == "https":
        return True
    peer = _parse(request.client.host) if request.client else None
    settings = request.app.state.settings
    if peer is None or not _trusted(peer, settings.trusted_proxy_networks):
        return False
    protos = _forwarded_protos(request, settings.forwarded_header)
    return bool(protos) and protos[-1].lower() == "https"
