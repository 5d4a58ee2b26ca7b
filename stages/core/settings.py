"""Typed settings read from the CLI, then ``CRAWLPIPE_…`` environment, then a file, then defaults.

Every setting is a field of a frozen dataclass with its help text in the
field's metadata, so one definition gives the CLI option, the environment
variable, the config-file key, the default and the documentation
(``crawlpipe config``). Values are read at run time, never in default
arguments. This module also holds the settings every stage shares (Kafka,
runner); each stage package keeps its own in its ``settings.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from stages.core.errors import ConfigError

ENV_PREFIX = "CRAWLPIPE_"
SECRET = "secret"

T = TypeVar("T")


def setting(default: Any, help: str, *, secret: bool = False) -> Any:
    """A dataclass field carrying its help text (and whether to hide it from logs)."""
    return dataclasses.field(default=default, metadata={"help": help, SECRET: secret}, repr=not secret)


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _field_type(cls: type, field: dataclasses.Field[Any]) -> type:
    hint = typing.get_type_hints(cls)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    chosen: type = args[0] if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union else hint
    return chosen


def _convert(cls: type, field: dataclasses.Field[Any], raw: str) -> Any:
    kind = _field_type(cls, field)
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError("expected true or false")
        if kind in (int, float, str, Path):
            return kind(raw)
        if typing.get_origin(kind) is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(
            f"{option_name(field.name)} / {env_name(field.name)}: cannot read {raw!r}: {exc}"
        ) from exc
    raise TypeError(f"unsupported setting type {kind!r} for {cls.__name__}.{field.name}")


def add_options(parser: argparse.ArgumentParser, *classes: type) -> None:
    """Add one ``--option`` per setting; the default shown is the built-in one."""
    for cls in classes:
        group = parser.add_argument_group(cls.__name__, (cls.__doc__ or "").strip().splitlines()[0])
        for field in dataclasses.fields(cls):
            group.add_argument(
                option_name(field.name),
                dest=field.name,
                default=None,
                metavar=field.name.rsplit("_", 1)[-1].upper(),
                help=(f"{field.metadata.get('help', '').replace('%', '%%')} "
                      f"[env {env_name(field.name)}; default {field.default!r}]"),
            )


def from_file(cls: type, name: str, value: Any, where: str) -> Any:
    """A config file's ``value`` for setting ``name`` as the field's type; ``where`` names the key in errors."""
    kind = _field_type(cls, next(f for f in dataclasses.fields(cls) if f.name == name))
    if typing.get_origin(kind) is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is Path and isinstance(value, str):
        return Path(value)
    if kind in (bool, int, float, str) and type(value) is kind:
        return value
    expected = "a list of strings" if typing.get_origin(kind) is tuple else getattr(kind, "__name__", str(kind))
    raise ConfigError(f"{where}: expected {expected}, got {value!r}")


@dataclass(frozen=True)
class Resolved:
    """One setting's value and where it came from: flag, environment, file, stage default or default."""

    name: str
    value: Any
    source: str
    secret: bool


def resolve(cls: type, cli: Mapping[str, Any] | argparse.Namespace | None = None,
            env: Mapping[str, str] | None = None, defaults: Mapping[str, Any] | None = None,
            file: Mapping[str, Any] | None = None) -> list[Resolved]:
    """Each field of ``cls`` from CLI values, then the environment, then ``file``, then ``defaults``.

    ``defaults`` replace the class's own defaults (a stage's own window size,
    say); a key that is no field of ``cls`` is refused, so a typo cannot pass
    silently. ``file`` holds values already typed by ``from_file``.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(defaults or ()) - names)
    if unknown:
        raise ConfigError(f"defaults for {cls.__name__} name unknown settings: {', '.join(unknown)}")
    cli_values = vars(cli) if isinstance(cli, argparse.Namespace) else dict(cli or {})
    environ = os.environ if env is None else env
    resolved = []
    for field in dataclasses.fields(cls):
        secret = bool(field.metadata.get(SECRET))
        if cli_values.get(field.name) is not None:
            value, source = _convert(cls, field, str(cli_values[field.name])), "flag"
        elif env_name(field.name) in environ:
            value, source = _convert(cls, field, environ[env_name(field.name)]), "environment"
        elif file and field.name in file:
            value, source = file[field.name], "file"
        elif defaults and field.name in defaults:
            value, source = defaults[field.name], "stage default"
        else:
            value, source = field.default, "default"
        resolved.append(Resolved(field.name, value, source, secret))
    return resolved


def load(cls: type[T], cli: Mapping[str, Any] | argparse.Namespace | None = None,
         env: Mapping[str, str] | None = None, defaults: Mapping[str, Any] | None = None,
         file: Mapping[str, Any] | None = None, **overrides: Any) -> T:
    """Build ``cls`` from keyword overrides, then what ``resolve`` finds."""
    values = {r.name: r.value for r in resolve(cls, cli, env, defaults, file)}
    return cls(**{**values, **overrides})


def describe(*classes: type) -> list[tuple[str, str, str, str]]:
    """(option, environment variable, default, help) for every setting, for docs and ``crawlpipe config``."""
    return [
        (option_name(f.name), env_name(f.name), repr(f.default), f.metadata.get("help", ""))
        for cls in classes
        for f in dataclasses.fields(cls)
    ]


def require(condition: bool, name: str, value: Any, expectation: str) -> None:
    """Refuse a bad value with a message naming the setting, its value and what is expected."""
    if not condition:
        raise ConfigError(f"{option_name(name)} / {env_name(name)} = {value!r}: {expectation}")

MIB = 1024 * 1024


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True, kw_only=True)
class KafkaConfig:
    """Kafka connection and security, topic names and client buffer bounds."""

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
    compression_urls: str = setting("zstd", "compression of the URL topic: zstd, lz4, gzip or none")
    compression_pages: str = setting("zstd", "compression of the pages topic (and of any topic not named here)")
    compression_products: str = setting(
        "gzip", "compression of the products topic: gzip is read by every Kafka client without extras "
                "(zstd and lz4 need aiokafka[zstd] / aiokafka[lz4]); docs/consuming.md"
    )
    compression_dlq: str = setting("gzip", "compression of the DLQ topic")
    request_timeout_seconds: float = setting(30.0, "timeout of one request to the broker")
    session_timeout_seconds: float = setting(30.0, "consumer group session timeout")
    security_protocol: str = setting("PLAINTEXT", "how clients talk to the brokers: PLAINTEXT, SSL, "
                                                  "SASL_PLAINTEXT or SASL_SSL")
    sasl_mechanism: str = setting("SCRAM-SHA-512", "SASL_* protocols: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
    sasl_username: str = setting("", "SASL_* protocols: the user name")
    sasl_password: str = setting("", "SASL_* protocols: the password (never printed or logged)", secret=True)
    ssl_cafile: Path | None = setting(None, "SSL/SASL_SSL: PEM file of the CAs to trust; none = the system's")
    ssl_certfile: Path | None = setting(None, "SSL/SASL_SSL: PEM client certificate (chain), for mutual TLS")
    ssl_keyfile: Path | None = setting(None, "SSL/SASL_SSL: PEM private key of that certificate")
    ssl_key_password: str = setting("", "password of an encrypted --ssl-keyfile (never printed or logged)",
                                    secret=True)
    ssl_check_hostname: bool = setting(True, "SSL/SASL_SSL: check that the broker's certificate names its host")

    def __post_init__(self) -> None:
        require(bool(self.bootstrap.strip()), "bootstrap", self.bootstrap, "give at least one host:port")
        for name in ("compression_urls", "compression_pages", "compression_products", "compression_dlq"):
            require(getattr(self, name) in {"zstd", "lz4", "gzip", "none"}, name, getattr(self, name),
                    "one of zstd, lz4, gzip, none")
        require(self.fetch_max_bytes >= self.max_partition_fetch_bytes, "fetch_max_bytes",
                self.fetch_max_bytes, "must be at least --max-partition-fetch-bytes")
        require(self.max_request_bytes > 0, "max_request_bytes", self.max_request_bytes, "must be positive")
        require(self.security_protocol in SECURITY_PROTOCOLS, "security_protocol", self.security_protocol,
                "one of " + ", ".join(SECURITY_PROTOCOLS))
        if self.security_protocol.startswith("SASL_"):
            require(self.sasl_mechanism in SASL_MECHANISMS, "sasl_mechanism", self.sasl_mechanism,
                    "one of " + ", ".join(SASL_MECHANISMS))
            require(bool(self.sasl_username), "sasl_username", self.sasl_username,
                    f"{self.security_protocol} needs a user name")
            require(bool(self.sasl_password), "sasl_password", "", f"{self.security_protocol} needs a password")
        require((self.ssl_certfile is None) == (self.ssl_keyfile is None), "ssl_keyfile", self.ssl_keyfile,
                "give --ssl-certfile and --ssl-keyfile together")

    def group(self, stage: str) -> str:
        return f"{self.group_prefix}-{stage}"


@dataclass(frozen=True, kw_only=True)
class RunnerConfig:
    """Bounds and backpressure of the shared stage loop."""

    max_in_flight: int = setting(200, "most messages a stage holds being processed")
    max_in_flight_bytes: int = setting(32 * MIB, "most input bytes a stage holds being processed")
    max_unacked_bytes: int = setting(
        8 * MIB, "most bytes of outputs a stage holds awaiting acknowledgement (Kafka's, or the sink's storage "
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
    memory_trim_interval_seconds: float = setting(
        10.0, "how often freed heap is given back to the kernel (malloc_trim), so RSS follows what is live, "
              "not the highest the heap has been (a burst of large pages, a stage paused after one); 0 never"
    )
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
    health_check_interval_seconds: float = setting(
        2.0, "how often the broker is probed and partitions checked for progress (/readyz, dependency metrics)")
    stuck_partition_seconds: float = setting(
        120.0, "a partition whose oldest message has been in flight this long makes /readyz not ready")

    def __post_init__(self) -> None:
        require(self.max_in_flight >= 1, "max_in_flight", self.max_in_flight, "must be at least 1")
        require(self.max_in_flight_bytes >= 1, "max_in_flight_bytes", self.max_in_flight_bytes,
                "must be at least 1")
        require(self.max_unacked_bytes >= 1, "max_unacked_bytes", self.max_unacked_bytes, "must be at least 1")
        require(self.health_check_interval_seconds > 0, "health_check_interval_seconds",
                self.health_check_interval_seconds, "must be positive")
        require(self.stuck_partition_seconds > 0, "stuck_partition_seconds", self.stuck_partition_seconds,
                "must be positive")
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
        require(self.memory_trim_interval_seconds >= 0, "memory_trim_interval_seconds",
                self.memory_trim_interval_seconds, "must be 0 (never) or positive")
        require(self.poll_timeout_seconds > 0, "poll_timeout_seconds", self.poll_timeout_seconds,
                "must be positive")
