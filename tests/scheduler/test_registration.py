"""The scheduler is an opt-in reader beside the sink: registered, but it paces nothing and `run` skips it."""

from __future__ import annotations

from stages.core import registry
from stages.core.settings import KafkaConfig
from stages.scheduler.stage import SchedulerStage


def test_the_parser_is_paced_by_the_sink_and_the_scheduler_by_the_fetchers() -> None:
    config = KafkaConfig()
    assert registry.stage("scheduler") is SchedulerStage
    parser = registry.downstream(registry.stage("parser"), config)
    scheduler = registry.downstream(SchedulerStage, config)
    assert parser is not None and parser.group == config.group("sink")
    assert scheduler is not None and (scheduler.topic, scheduler.group) == (config.topic_urls, config.group("fetcher"))


def test_crawlpipe_run_starts_no_scheduler_unless_asked() -> None:
    assert {name: stage.run_replicas for name, stage in registry.stages().items()} == {
        "fetcher": 1, "parser": 1, "scheduler": 0, "sink": 1}
