"""The scheduler's own metrics: the schedule's gauges and what it dispatched.

The per-host gauge is bounded: the ``--gauge-top-hosts`` hosts with the most
scheduled URLs get a label of their own, every other host is summed into
``host="other"``, so a crawl of thousands of shops never makes thousands of series.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from stages.core.metrics import REGISTRY
from stages.scheduler.store import Counts

OTHER_HOSTS = "other"

_SCHEDULED = Gauge("crawlpipe_scheduler_scheduled_urls", "product URLs scheduled for a recrawl, by host "
                   "(the hosts with the most; the rest as host=\"other\")", ["host"], registry=REGISTRY)
_DUE = Gauge("crawlpipe_scheduler_due_urls", "scheduled URLs whose due time has come", registry=REGISTRY)
_OVERDUE = Gauge("crawlpipe_scheduler_overdue_urls",
                 "scheduled URLs due for longer than --overdue-after-seconds: dispatch is behind", registry=REGISTRY)
_UNSCHEDULED = Gauge("crawlpipe_scheduler_unscheduled_urls",
                     "products no longer scheduled: discontinued --max-misses times in a row", registry=REGISTRY)
_DISPATCHED = Counter("crawlpipe_scheduler_dispatched_urls", "recrawl URLs published", registry=REGISTRY)
_MISSES = Counter("crawlpipe_scheduler_misses", "discontinued records counted as a miss", registry=REGISTRY)
_IGNORED = Counter("crawlpipe_scheduler_ignored_records",
                   "records that changed no entry: redelivered, older than the entry, or discontinued products "
                   "never scheduled", registry=REGISTRY)


def counted(counts: Counts) -> None:
    _DUE.set(counts.due)
    _OVERDUE.set(counts.overdue)
    _UNSCHEDULED.set(counts.unscheduled)
    _SCHEDULED.clear()
    for host, scheduled in counts.per_host:
        _SCHEDULED.labels(host=host).set(scheduled)
    _SCHEDULED.labels(host=OTHER_HOSTS).set(counts.scheduled - sum(n for _, n in counts.per_host))


def dispatched(urls: int) -> None:
    _DISPATCHED.inc(urls)


def written(*, misses: int, ignored: int) -> None:
    _MISSES.inc(misses)
    _IGNORED.inc(ignored)
