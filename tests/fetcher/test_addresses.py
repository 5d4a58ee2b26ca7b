"""The SSRF guard: private and special addresses are refused before any connection."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from stages.core.errors import BadMessage
from stages.fetcher.addresses import AddressPolicy, GuardedResolver
from stages.fetcher.client import HttpFetcher
from tests.fetcher.conftest import local_config
from tests.fetcher.hostile import HostileServer

pytestmark = pytest.mark.timeout(5)

REFUSED = [
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "127.0.0.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
]
ALLOWED = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"]


@pytest.mark.parametrize("address", REFUSED)
def test_special_addresses_are_refused(address: str) -> None:
    assert not AddressPolicy().is_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert AddressPolicy().is_allowed(ipaddress.ip_address(address))


def test_allowed_networks_open_exactly_those_networks() -> None:
    policy = AddressPolicy(["127.0.0.0/8"])
    assert policy.is_allowed(ipaddress.ip_address("127.0.0.2"))
    assert policy.is_allowed(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert not policy.is_allowed(ipaddress.ip_address("10.0.0.1"))
    assert not policy.is_allowed(ipaddress.ip_address("::1"))


class FixedResolver(AbstractResolver):
    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_resolver_drops_refused_addresses_from_a_mixed_answer() -> None:
    resolver = GuardedResolver(AddressPolicy(), FixedResolver("10.0.0.7", "93.184.215.14"))
    results = await resolver.resolve("mixed.example", 80)
    assert [r["host"] for r in results] == ["93.184.215.14"]


async def test_resolver_refuses_a_name_that_resolves_only_to_private_addresses() -> None:
    resolver = GuardedResolver(AddressPolicy(), FixedResolver("192.168.1.1", "10.1.1.1"))
    with pytest.raises(BadMessage) as caught:
        await resolver.resolve("intranet.example", 80)
    assert caught.value.error_class == "blocked_address"
    assert "192.168.1.1" in str(caught.value)


def connection_attempts() -> tuple[aiohttp.TraceConfig, list[str]]:
    """A trace config that records every connection the session starts to create."""
    attempts: list[str] = []
    trace = aiohttp.TraceConfig()

    async def started(session: object, context: object, params: object) -> None:
        attempts.append("create")

    trace.on_connection_create_start.append(started)
    return trace, attempts


@pytest.mark.parametrize("url", ["http://10.0.0.1/", "http://192.168.1.1/admin", "http://[::1]/", "http://169.254.169.254/latest/meta-data/"])
async def test_private_literal_is_refused_before_any_connection(url: str) -> None:
    trace, attempts = connection_attempts()
    async with HttpFetcher(local_config(allowed_networks=()), trace_configs=[trace]) as fetcher:
        with pytest.raises(BadMessage) as caught:
            await fetcher.fetch(url)
    assert caught.value.error_class == "blocked_address"
    assert attempts == []


async def test_loopback_is_refused_unless_allowed(hostile: HostileServer) -> None:
    async with HttpFetcher(local_config(allowed_networks=())) as fetcher:
        with pytest.raises(BadMessage) as literal:
            await fetcher.fetch(hostile.url("/ok"))
        with pytest.raises(BadMessage) as named:
            await fetcher.fetch(f"http://localhost:{hostile.port}/ok")
    assert literal.value.error_class == named.value.error_class == "blocked_address"
    assert sum(hostile.hits.values()) == 0


async def test_allowed_network_reaches_named_and_literal_hosts(hostile: HostileServer) -> None:
    async with HttpFetcher(local_config()) as fetcher:
        by_name = await fetcher.fetch(f"http://localhost:{hostile.port}/ok")
        by_address = await fetcher.fetch(hostile.url("/ok"))
    assert by_name.status == by_address.status == 200


@pytest.mark.parametrize("target", ["http://10.0.0.1/", "http://192.168.1.1:8080/x", "http://[fe80::1]/"])
async def test_redirect_to_private_address_is_refused(
    hostile: HostileServer, make_fetcher: Callable[..., HttpFetcher], target: str
) -> None:
    async with make_fetcher() as fetcher:
        with pytest.raises(BadMessage) as caught:
            await fetcher.fetch(hostile.url(f"/redirect-to?target={target}"))
    assert caught.value.error_class == "blocked_address"


async def test_redirect_to_loopback_name_is_refused_by_the_resolver(hostile: HostileServer) -> None:
    # The page is reached through the allowed 127.0.0.2 only, and 127.0.0.1 is
    # refused: the redirect to "localhost" resolves to 127.0.0.1.
    async with HttpFetcher(local_config(allowed_networks=("127.0.0.2/32",))) as fetcher:
        with pytest.raises(BadMessage) as caught:
            await fetcher.fetch(hostile.slow_url(f"/redirect-to?target=http://localhost:{hostile.port}/ok"))
    assert caught.value.error_class == "blocked_address"
    assert hostile.hits["/ok"] == 0


async def test_redirect_to_non_http_scheme_is_refused(
    hostile: HostileServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    async with make_fetcher() as fetcher:
        with pytest.raises(BadMessage) as caught:
            await fetcher.fetch(hostile.url("/redirect-to?target=ftp://files.example/"))
    assert caught.value.error_class == "bad_url"
