"""Settings every stage shares: where Kafka is, and how much work a stage may hold.

All defaults live here (and in each stage's own config module) and work on a
laptop with ``ops/kafka/start``. ``crawlpipe config`` prints them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from stages.core.settings import require, setting

MIB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class KafkaConfig:
    """Kafka connection, topic names and client buffer bounds."""

    bootstrap: str = setting("127.0.0.1:9092", "Kafka bootstrap servers, comma-separated host:port")
    topic_urls: str = setting("crawl.urls", "topic of URL messages (fetcher input)")
    topic_pages: str = setting("crawl.pages", "topic of raw pages (parser input, replay source)")
    topic_products: str = setting("crawl.products", "topic of product records (sink input)")
    topic_dlq: str = setting("crawl.dlq", "dead-letter topic: failed input with the reason")
    group_prefix: str = setting("crawlpipe", "consumer groups are named <prefix>-<stage>")
    fetch_max_bytes: int = setting(16 * MIB, "consumer: most bytes one fetch may return (the prefetch bound)")
    max_partition_fetch_bytes: int = setting(1 * MIB, "consumer: most bytes per partition per fetch")
    producer_linger_ms: int = setting(5, "producer: how long to wait to fill a batch")
    producer_max_batch_bytes: int = setting(
        768 * 1024, "producer: batch size per partition (below a default topic's 1 MiB max.message.bytes)"
    )
    max_request_bytes: int = setting(17 * MIB, "producer: largest request (a raw page must fit)")
    compression: str = setting("zstd", "producer compression: zstd, lz4, gzip or none")
    request_timeout_seconds: float = setting(30.0, "timeout of one request to the broker")
    session_timeout_seconds: float = setting(30.0, "consumer group session timeout")

    def __post_init__(self) -> None:
        require(bool(self.bootstrap.strip()), "bootstrap", self.bootstrap, "give at least one host:port")
        require(self.compression in {"zstd", "lz4", "gzip", "none"}, "compression", self.compression,
                "one of zstd, lz4, gzip, none")
        require(self.fetch_max_bytes >= self.max_partition_fetch_bytes, "fetch_max_bytes",
                self.fetch_max_bytes, "must be at least --max-partition-fetch-bytes")
        require(self.max_request_bytes > 0, "max_request_bytes", self.max_request_bytes, "must be positive")

    def group(self, stage: str) -> str:
        return f"{self.group_prefix}-{stage}"


@dataclass(frozen=True, kw_only=True)
class RunnerConfig:
    """Bounds and backpressure of the shared stage loop."""

    max_in_flight: int = setting(200, "most messages a stage holds being processed")
    max_in_flight_bytes: int = setting(32 * MIB, "most input bytes a stage holds being processed")
    max_unacked_bytes: int = setting(
        16 * MIB, "most bytes of outputs a stage holds awaiting acknowledgement (Kafka's, or the sink's storage "
                  "commit) before it takes no more input"
    )
    commit_interval_seconds: float = setting(1.0, "how often finished offsets are committed")
    poll_timeout_seconds: float = setting(0.2, "longest wait for new messages in one poll")
    lag_high_water_messages: int = setting(50_000, "pause input when the downstream group lags more messages")
    lag_low_water_messages: int = setting(25_000, "resume input when the downstream lag falls below")
    lag_high_water_bytes: int = setting(1024 * MIB, "pause input when the downstream lag exceeds these bytes")
    lag_low_water_bytes: int = setting(512 * MIB, "resume input when the downstream byte lag falls below")
    lag_check_interval_seconds: float = setting(2.0, "how often downstream lag is read; 0 turns the watcher off")
    memory_limit_mb: int = setting(
        0, "hard memory limit (MB): RSS still above it after a full collection and heap trim stops the stage "
           "with exit code 4; 0 = the cgroup limit where one applies, else 1.5 x the budget logged at start"
    )
    memory_soft_limit_mb: int = setting(
        0, "RSS (MB) above which input pauses, the window shrinks, cycles are collected and the heap trimmed; "
           "0 = the budget logged at start"
    )
    memory_overhead_mb: int = setting(80, "fixed memory of a stage process (interpreter, libraries)")
    memory_check_interval_seconds: float = setting(1.0, "how often RSS is read; 0 turns the guard off")
    malloc_keep_mb: int = setting(
        8, "freed heap glibc malloc keeps for reuse instead of returning it (and faulting it back in) per page; "
           "0 keeps glibc's defaults"
    )
    gc_young_threshold: int = setting(
        0, "allocations between runs of Python's cycle collector; 0 keeps Python's own pace (700). A pace the "
           "stage's allocations never reach leaves every reference cycle in memory"
    )
    nice: int = setting(
        0, "CPU priority, as nice(1) counts: stages that mostly wait (fetcher, sink: 10) give a core "
           "to the parser first when cores are short"
    )
    shutdown_timeout_seconds: float = setting(20.0, "on SIGTERM, how long in-flight work may take to finish")

    def __post_init__(self) -> None:
        require(self.max_in_flight >= 1, "max_in_flight", self.max_in_flight, "must be at least 1")
        require(self.max_in_flight_bytes >= 1, "max_in_flight_bytes", self.max_in_flight_bytes,
                "must be at least 1")
        require(self.max_unacked_bytes >= 1, "max_unacked_bytes", self.max_unacked_bytes, "must be at least 1")
        require(self.lag_low_water_messages <= self.lag_high_water_messages, "lag_low_water_messages",
                self.lag_low_water_messages, "must not exceed --lag-high-water-messages")
        require(self.lag_low_water_bytes <= self.lag_high_water_bytes, "lag_low_water_bytes",
                self.lag_low_water_bytes, "must not exceed --lag-high-water-bytes")
        require(self.memory_limit_mb >= 0, "memory_limit_mb", self.memory_limit_mb,
                "must be 0 (automatic) or positive")
        require(0 <= self.nice <= 19, "nice", self.nice, "must be between 0 and 19")
        require(self.malloc_keep_mb >= 0, "malloc_keep_mb", self.malloc_keep_mb, "must be 0 (off) or positive")
        require(0 <= self.memory_soft_limit_mb, "memory_soft_limit_mb", self.memory_soft_limit_mb,
                "must be 0 (automatic) or positive")
        require(self.poll_timeout_seconds > 0, "poll_timeout_seconds", self.poll_timeout_seconds,
                "must be positive")
