"""The fetcher's HTTP settings: one frozen object, every default documented here.

The defaults are for a production crawler talking to hundreds of public hosts
from one process; they also work on a laptop, except that loopback and
private networks are refused until ``allowed_networks`` names them (the SSRF
guard in ``addresses.py``). Each field is also a ``--option`` and a
``CRAWLPIPE_…`` variable (``stages.core.settings``).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, fields

from stages.core.settings import require, setting

MIB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class FetchConfig:
    """HTTP engine: limits, timeouts, politeness, robots.txt and the SSRF guard."""

    user_agent: str = setting(
        "crawlpipe/0.1 (+https://example.invalid/crawlpipe)",
        "User-Agent sent on every request and matched against robots.txt groups",
    )
    max_connections: int = setting(200, "open sockets in the one shared connection pool, all hosts together")
    max_connections_per_host: int = setting(8, "concurrent requests to one host")
    min_delay_per_host_seconds: float = setting(
        0.0, "least time between two request starts to one host; 0 lets a willing host go flat out"
    )

    adaptive_delay_enabled: bool = setting(
        True, "back off a host on 429/502-504/timeouts/slow answers, recover on fast successful ones"
    )
    adaptive_delay_step_seconds: float = setting(
        0.25, "first back-off delay, and the smallest non-zero one (below it the delay snaps to 0)"
    )
    adaptive_delay_growth_factor: float = setting(2.0, "multiplier on a host's delay per sign of distress")
    adaptive_delay_decay_factor: float = setting(0.8, "multiplier on a host's delay per fast successful answer")
    slow_response_seconds: float = setting(5.0, "time to response headers above which a host counts as struggling")
    max_delay_per_host_seconds: float = setting(60.0, "ceiling of the adaptive delay and of robots.txt Crawl-delay")
    max_retry_after_seconds: float = setting(
        3600.0, "ceiling of a server's Retry-After, so a hostile value cannot park a host forever"
    )
    max_throttle_wait_seconds: float = setting(
        30.0, "a host that may not be asked for longer has its URLs deferred through Kafka instead of waited for"
    )
    slow_request_seconds: float = setting(
        10.0, "a page request still running this long has turned slow (docs/fetcher-scheduling.md); 0 turns the "
        "slow lane off"
    )
    max_slow_requests_per_host: int = setting(
        4, "slow requests one host may have at once (at most --max-connections-per-host); one more is cut and "
        "waits for the host's slow lane, so the host's other slots stay free for its fast URLs"
    )
    host_state_max_hosts: int = setting(10_000, "idle per-host throttle states kept; the oldest go first")
    host_idle_seconds: float = setting(
        300.0, "a host unused this long loses its throttle state (keep above the delay ceiling)"
    )

    connect_timeout_seconds: float = setting(10.0, "TCP and TLS connect, per attempt")
    read_timeout_seconds: float = setting(20.0, "longest silence between two socket reads (catches trickling servers)")
    total_timeout_seconds: float = setting(
        60.0, "network time for a whole fetch: every redirect hop and the body (throttle waits excluded)"
    )

    max_body_bytes: int = setting(8 * MIB, "bytes on the wire (still content-encoded) accepted for one response")
    max_decompressed_bytes: int = setting(
        16 * MIB, "bytes after gzip/deflate/br decoding; more is a decode_bomb (this is what the page record holds)"
    )
    large_body_threshold_bytes: int = setting(
        256 * 1024, "a body growing past this needs one of --max-large-bodies slots to read on"
    )
    max_large_bodies: int = setting(4, "bodies allowed past --large-body-threshold-bytes at once (the memory bound)")
    max_redirects: int = setting(5, "redirect hops followed before giving up; 0 follows none")
    store_non_html: bool = setting(False, "pass non-HTML bodies (images, PDFs, JSON) on instead of refusing them")

    allowed_networks: tuple[str, ...] = setting(
        (), "networks exempt from the SSRF guard, comma-separated, e.g. 127.0.0.0/8 for local tests"
    )

    obey_robots: bool = setting(True, "fetch and honour robots.txt (RFC 9309) for every host")
    robots_cache_size: int = setting(10_000, "robots.txt rule sets kept (LRU), one per scheme+host+port")
    robots_ttl_seconds: float = setting(86_400.0, "how long a robots.txt is trusted (RFC 9309: at most 24 hours)")
    robots_error_ttl_seconds: float = setting(
        60.0, "how long an unreachable or 5xx robots.txt keeps its host disallowed before asking again"
    )
    robots_max_bytes: int = setting(512 * 1024, "robots.txt is truncated here (RFC 9309: parse at least 500 KiB)")
    robots_timeout_seconds: float = setting(10.0, "network time for one robots.txt fetch, redirects included")

    dns_cache_size: int = setting(10_000, "host names whose guarded addresses the connection pool caches")
    dns_ttl_seconds: float = setting(300.0, "how long a resolved, guarded address list is reused")

    def __post_init__(self) -> None:
        require(
            isinstance(self.user_agent, str) and bool(self.user_agent.strip()),
            "user_agent", self.user_agent, "must be a non-empty string",
        )
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type == "int":
                least = _least_int(field.name)
                require(
                    isinstance(value, int) and not isinstance(value, bool) and value >= least,
                    field.name, value, f"must be an integer >= {least}",
                )
            elif field.type == "float":
                require(
                    isinstance(value, int | float) and not isinstance(value, bool)
                    and math.isfinite(value) and value >= 0,
                    field.name, value, "must be a finite number >= 0",
                )
            elif field.type == "bool":
                require(isinstance(value, bool), field.name, value, "must be true or false")
        for name in _MUST_BE_POSITIVE:
            require(getattr(self, name) > 0, name, getattr(self, name), "must be greater than 0")
        require(
            self.max_connections_per_host <= self.max_connections,
            "max_connections_per_host", self.max_connections_per_host,
            f"must be at most --max-connections ({self.max_connections})",
        )
        require(
            self.adaptive_delay_growth_factor > 1,
            "adaptive_delay_growth_factor", self.adaptive_delay_growth_factor, "must be greater than 1",
        )
        require(
            0 < self.adaptive_delay_decay_factor < 1,
            "adaptive_delay_decay_factor", self.adaptive_delay_decay_factor, "must be between 0 and 1 (exclusive)",
        )
        require(
            self.adaptive_delay_step_seconds <= self.max_delay_per_host_seconds,
            "adaptive_delay_step_seconds", self.adaptive_delay_step_seconds,
            f"must be at most --max-delay-per-host-seconds ({self.max_delay_per_host_seconds})",
        )
        require(
            isinstance(self.allowed_networks, tuple),
            "allowed_networks", self.allowed_networks, "must be a tuple of networks",
        )
        for network in self.allowed_networks:
            require(
                _is_network(network),
                "allowed_networks", self.allowed_networks,
                f"{network!r} is not a network such as 127.0.0.0/8 or ::1/128",
            )


# Durations where 0 would not mean "off" but "fail everything" or "always slow".
_MUST_BE_POSITIVE = (
    "connect_timeout_seconds",
    "read_timeout_seconds",
    "total_timeout_seconds",
    "robots_timeout_seconds",
    "adaptive_delay_step_seconds",
    "slow_response_seconds",
    "dns_ttl_seconds",
)


def _least_int(name: str) -> int:
    # Zero redirects is a meaningful choice (never follow); zero of any other count is not.
    return 0 if name == "max_redirects" else 1


def _is_network(value: object) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True
