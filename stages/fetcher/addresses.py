"""The SSRF guard: the crawler never connects to an address it should not reach.

Crawled URLs are chosen by strangers, so a link to ``http://10.0.0.1/admin``
or to a name that resolves to ``127.0.0.1`` must not reach the crawler's own
network. Two checks close both doors, and both run before any socket opens:

1. ``AddressPolicy.check_host`` refuses IP-literal hosts; the HTTP engine
   calls it for every hop, redirects included, because aiohttp's connector
   never asks the resolver about literals.
2. ``GuardedResolver`` wraps aiohttp's resolver and drops refused addresses
   from every lookup. Every new connection to a named host goes through it;
   the connector's bounded, TTL'd DNS cache only ever holds what it returned,
   so cached and keep-alive connections were checked too.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from stages.core.errors import BadMessage
from stages.fetcher.errors import BLOCKED_ADDRESS

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(BadMessage):
    """The URL's host is, or resolves only to, an address the guard refuses."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_class=BLOCKED_ADDRESS)


class AddressPolicy:
    """Which IP addresses may be connected to: public unicast ones, plus an allow-list."""

    def __init__(self, allowed_networks: Iterable[str] = ()) -> None:
        self._allowed = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)
        # Parsing and classifying an address costs ~15 µs; a crawl revisits
        # the same literal hosts, so remember a bounded number of verdicts.
        self._literal_allowed = lru_cache(maxsize=4096)(self._judge_literal)

    def is_allowed(self, address: IPAddress) -> bool:
        """True for a globally routable unicast address or one inside an allowed network."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # ::ffff:10.0.0.1 reaches 10.0.0.1; judge it as what it reaches.
            address = address.ipv4_mapped
        if any(address in network for network in self._allowed):
            return True
        # is_global alone lets IPv4 multicast through, hence the explicit list.
        return address.is_global and not (
            address.is_multicast
            or address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_reserved
            or address.is_unspecified
        )

    def check_host(self, host: str) -> None:
        """Raise ``BlockedAddress`` if ``host`` is an IP literal the policy refuses."""
        if ":" not in host and not host[-1:].isdigit():
            return  # a name (validate_url refuses numeric last labels): the resolver judges it
        if not self._literal_allowed(host):
            raise BlockedAddress(
                f"refusing to connect to {host}: private/loopback/link-local/reserved/multicast "
                "address (add its network to allowed_networks if this is intended)"
            )

    def _judge_literal(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return True  # not an address after all: a name, judged by the resolver
        return self.is_allowed(address)


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that only ever returns addresses the policy allows."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve with the wrapped resolver, keep the allowed addresses, refuse if none remain.

        Dropping (rather than refusing) a mixed answer still reaches the host's
        public addresses and never the private ones.
        """
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self._is_allowed_result(r)]
        if not allowed:
            found = ", ".join(sorted({r["host"] for r in results})) or "nothing"
            raise BlockedAddress(
                f"refusing to connect to {host}: it resolves to {found}, none of which is a "
                "public address (add the network to allowed_networks if this is intended)"
            )
        return allowed

    def _is_allowed_result(self, result: ResolveResult) -> bool:
        """Judge one resolved address; an unparsable one is refused."""
        try:
            address = ipaddress.ip_address(result["host"].split("%", 1)[0])
        except ValueError:
            return False
        return self._policy.is_allowed(address)

    async def close(self) -> None:
        """Release the wrapped resolver."""
        await self._inner.close()
