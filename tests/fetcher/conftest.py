"""Fixtures for the fetcher's tests: the hostile servers and a fast local config."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from stages.fetcher.client import HttpFetcher
from stages.fetcher.settings import FetchConfig
from tests.fetcher.hostile import HostileServer

MIB = 1024 * 1024


def local_config(**overrides: Any) -> FetchConfig:
    """Small timeouts and caps so every bad case ends within a second; loopback allowed."""
    settings: dict[str, Any] = {
        "allowed_networks": ("127.0.0.0/8",),
        "connect_timeout_seconds": 1.0,
        "read_timeout_seconds": 0.5,
        "total_timeout_seconds": 3.0,
        "robots_timeout_seconds": 2.0,
        "robots_error_ttl_seconds": 0.2,
        "max_body_bytes": MIB,
        "max_decompressed_bytes": MIB,
        "adaptive_delay_step_seconds": 0.01,
        "max_delay_per_host_seconds": 2.0,
        "max_retry_after_seconds": 5.0,
    }
    settings.update(overrides)
    return FetchConfig(**settings)


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    async with HostileServer() as server:
        yield server


@pytest.fixture
def make_fetcher() -> Callable[..., HttpFetcher]:
    """Build a fetcher with ``local_config(**overrides)``; the test enters it with ``async with``."""

    def build(**overrides: Any) -> HttpFetcher:
        return HttpFetcher(local_config(**overrides))

    return build


@pytest.fixture
async def fetcher() -> AsyncIterator[HttpFetcher]:
    async with HttpFetcher(local_config()) as entered:
        yield entered
