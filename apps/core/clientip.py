"""The client's IP address: one function that everything recording or limiting by IP uses
(audit rows, the login log, SMS caps, login throttling).

``X-Forwarded-For`` is a list each proxy appends the address it received from; only the
entries our own proxies added can be believed. So the header is read from the right:

- no trusted proxy configured (the default): the header is ignored, the client is the
  TCP peer (``REMOTE_ADDR``);
- ``TRUSTED_PROXY_NETWORKS`` (CIDRs): the peer and every hop inside those networks are our
  proxies; the client is the right-most hop outside them. This also holds when a client
  reaches the app without a proxy: its own address is then the untrusted peer, and any
  header it forged is not read;
- ``TRUSTED_PROXY_COUNT = N``: the N right-most addresses (the peer and N−1 header hops)
  are our proxies; the client is the next one. Use it only where the app cannot be
  reached except through those proxies.

Never the left-most entry, which is whatever the client wrote. An entry that is not an IP
address stops the walk: the address to its right (a hop our proxies vouch for) is used.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(value: str) -> IPAddress | None:
    text = value.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def _trusted(address: IPAddress, networks) -> bool:
    return any(address in network for network in networks)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as a string (None when the peer address is unknown)."""
    peer = _parse(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    count = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    networks = _networks(tuple(getattr(settings, "TRUSTED_PROXY_NETWORKS", ()) or ()))
    if not count and not networks:
        return str(peer)
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [h for h in header.split(",") if h.strip()] if header else []
    # Right to left: the peer first, then what each of our proxies appended.
    chain: list[str | IPAddress] = [peer, *reversed(hops)]
    chosen: IPAddress = peer
    for position, hop in enumerate(chain):
        address = hop if not isinstance(hop, str) else _parse(hop)
        if address is None:
            break  # garbage in the header: keep the last address a proxy vouched for
        chosen = address
        trusted = _trusted(address, networks) if networks else position < count
        if not trusted:
            break
    return str(chosen)
