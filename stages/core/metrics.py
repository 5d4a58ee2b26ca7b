"""Prometheus metrics, ``/healthz`` and ``/readyz`` for one stage process.

The runner's own counters (``StageRunner.counts``, ``Output.counts``, the
window, the pause reasons, the lag watcher) are read when Prometheus
scrapes, by one collector, so the hot path pays nothing for the generic
metrics. What only a stage can see (fetch latency, parse time, batch writes)
is declared by the stage in its own ``metrics.py`` on ``REGISTRY``.

Generic metrics carry a ``stage`` label (one dashboard query covers every
stage); stage-specific ones are named ``crawlpipe_<stage>_<thing>_<unit>``.
The registry is this process's own, never prometheus-client's global one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import orjson
import psutil
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from aiokafka import AIOKafkaConsumer
from prometheus_client.registry import Collector

from stages.core.lag import Downstream, LagWatcher
from stages.core.memory import MemoryGuard
from stages.core.output import Output
from stages.core.pausing import REASONS, PauseState
from stages.core.settings import require, setting
from stages.core.stage import Stage
from stages.core.window import Window

log = logging.getLogger("crawlpipe.metrics")

REGISTRY = CollectorRegistry()


@dataclass(frozen=True, kw_only=True)
class MetricsConfig:
    """The stage's Prometheus endpoint (/metrics, /healthz, /readyz)."""

    metrics_port: int = setting(0, "port of the metrics endpoint; 0 turns it off")
    metrics_host: str = setting("127.0.0.1", "address the metrics endpoint listens on (0.0.0.0 in a container)")

    def __post_init__(self) -> None:
        require(0 <= self.metrics_port <= 65535, "metrics_port", self.metrics_port, "a port 0-65535 (0 = off)")

    @property
    def enabled(self) -> bool:
        return self.metrics_port > 0


class Counted(Protocol):
    @property
    def consumed(self) -> int: ...
    @property
    def consumed_bytes(self) -> int: ...
    @property
    def finished(self) -> int: ...
    @property
    def commits(self) -> int: ...


class StageRunner(Protocol):
    """What the metrics read of the stage loop (``runner.StageRunner``), named without importing it."""

    @property
    def stage(self) -> Stage: ...
    @property
    def counts(self) -> Counted: ...
    @property
    def output(self) -> Output: ...
    @property
    def window(self) -> Window: ...
    @property
    def memory(self) -> MemoryGuard: ...
    @property
    def pauses(self) -> PauseState: ...
    @property
    def lag(self) -> LagWatcher | None: ...
    @property
    def downstream(self) -> Downstream | None: ...
    @property
    def consumer(self) -> AIOKafkaConsumer: ...
    @property
    def stopping(self) -> bool: ...


class RunnerCollector(Collector):
    """Reads a runner's counters at scrape time."""

    def __init__(self, runner: StageRunner) -> None:
        self._runner = runner
        self._process = psutil.Process()

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        r = self._runner
        stage = [r.stage.name]

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=["stage"])
            family.add_metric(stage, value)
            return family

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=["stage"])
            family.add_metric(stage, value)
            return family

        out = r.output.counts
        yield counter("crawlpipe_consumed_messages", "messages admitted from the input topic", r.counts.consumed)
        yield counter("crawlpipe_consumed_bytes", "bytes admitted from the input topic", r.counts.consumed_bytes)
        yield counter("crawlpipe_finished_messages", "input messages handled (or sent to the DLQ)",
                      r.counts.finished)
        yield counter("crawlpipe_commits", "offset commits that succeeded", r.counts.commits)
        yield counter("crawlpipe_produced_messages", "records produced and acknowledged", out.produced)
        yield counter("crawlpipe_produced_bytes", "bytes produced and acknowledged", out.produced_bytes)
        yield gauge("crawlpipe_in_flight_messages", "messages consumed but not finished", r.window.messages)
        yield gauge("crawlpipe_in_flight_bytes", "bytes held in the window", r.window.bytes)
        yield gauge("crawlpipe_window_capacity_messages", "current message bound of the window "
                    "(below the configured one while the memory guard has shrunk it)", r.window.limit_messages)
        yield gauge("crawlpipe_window_capacity_bytes", "byte bound of the window", r.window.max_bytes)
        yield gauge("crawlpipe_rss_bytes", "resident memory of the process", self._process.memory_info().rss)
        yield gauge("crawlpipe_memory_soft_limit_bytes", "RSS above which input pauses",
                    r.memory.soft_limit_bytes)
        yield gauge("crawlpipe_memory_limit_bytes", "RSS above which, after reclaiming, the stage stops (exit 4)",
                    r.memory.limit_bytes)
        yield gauge("crawlpipe_memory_over_budget", "1 while RSS is above the soft limit (the budget by default)",
                    int(r.memory.over_budget))
        paused = GaugeMetricFamily("crawlpipe_paused", "1 while input is paused for this reason",
                                   labels=["stage", "reason"])
        reasons = r.pauses.reasons
        for reason in REASONS:
            paused.add_metric([r.stage.name, reason], 1.0 if reason in reasons else 0.0)
        yield paused
        dlq = CounterMetricFamily("crawlpipe_dlq_messages", "records sent to the DLQ",
                                  labels=["stage", "error_class"])
        for error_class, count in sorted(out.dlq_by_class.items()):
            dlq.add_metric([r.stage.name, error_class], count)
        yield dlq
        downstream = r.downstream
        if r.lag is not None and downstream is not None:
            labels = ["stage", "topic", "group"]
            values = [r.stage.name, downstream.topic, downstream.group]
            # Unknown lag (no committed offsets yet) is left out rather than reported as zero.
            for name, value in (("crawlpipe_downstream_lag_messages", r.lag.lag_messages),
                                ("crawlpipe_downstream_lag_bytes", r.lag.lag_bytes)):
                if value is not None:
                    family = GaugeMetricFamily(name, "lag of the downstream group as this stage last saw it "
                                               "(bytes estimated from the records it produced)", labels=labels)
                    family.add_metric(values, value)
                    yield family


class MetricsServer:
    """The aiohttp endpoint of one stage process; started after the consumer, stopped at shutdown."""

    def __init__(self, runner: StageRunner, config: MetricsConfig) -> None:
        self._runner = runner
        self._config = config
        self._collector = RunnerCollector(runner)
        self._site_runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        REGISTRY.register(self._collector)
        self._site_runner = web.AppRunner(app, access_log=None)
        await self._site_runner.setup()
        site = web.TCPSite(self._site_runner, self._config.metrics_host, self._config.metrics_port)
        await site.start()
        self.port = self._config.metrics_port
        log.info("%s metrics on http://%s:%d/metrics", self._runner.stage.name, self._config.metrics_host,
                 self.port)

    async def stop(self) -> None:
        if self._site_runner is None:
            return
        await self._site_runner.cleanup()
        self._site_runner = None
        REGISTRY.unregister(self._collector)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        # Answering at all is the proof: the event loop is running.
        return _json(200, {"stage": self._runner.stage.name, "alive": True})

    async def _readyz(self, request: web.Request) -> web.Response:
        consumer = self._runner.consumer
        assigned = sorted(f"{tp.topic}[{tp.partition}]" for tp in consumer.assignment())
        subscribed = sorted(consumer.subscription())
        ready = bool(assigned or subscribed) and not self._runner.stopping
        return _json(200 if ready else 503, {
            "stage": self._runner.stage.name, "ready": ready, "subscribed": subscribed, "assigned": assigned,
            "paused": sorted(self._runner.pauses.reasons),
        })


def _json(status: int, document: dict) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document), content_type="application/json")
