"""``crawlpipe …``: the stages, topic set-up, publishing and inspection.

Every setting can be given as ``--option``, as ``CRAWLPIPE_OPTION`` in the
environment, or left at its default (``crawlpipe config`` lists them all).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from stages.core import logs, registry, settings
from stages.core.config import KafkaConfig, RunnerConfig
from stages.core.errors import ConfigError, CrawlpipeError, KafkaUnavailable, MemoryExhausted
from stages.core.messages import parse_since
from stages.core.metrics import MetricsConfig
from stages.core.topics import TopicsConfig
from stages.parser.settings import ParserConfig
from stages.sink.settings import SinkConfig

log = logging.getLogger("crawlpipe")


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING [env CRAWLPIPE_LOG_LEVEL]")
    parser.add_argument("--log-format", default=None, choices=("plain", "json"),
                        help="plain lines or JSON lines [env CRAWLPIPE_LOG_FORMAT]")


def _stage_command(args: argparse.Namespace) -> int:
    from stages.core.runner import StageRunner

    kafka_config = settings.load(KafkaConfig, args)
    stage_class = registry.stage(args.command)
    stage = stage_class(kafka_config, *[settings.load(cls, args) for cls in stage_class.settings])
    runner_config = settings.load(RunnerConfig, args, defaults=stage_class.runner_defaults)
    metrics_config = settings.load(MetricsConfig, args)
    _lower_priority(runner_config.nice)

    async def serve() -> None:
        # aiokafka's clients must be created inside the running loop.
        await StageRunner(stage, kafka_config, runner_config, metrics=metrics_config).run()

    _run(serve())
    return 0


def _lower_priority(nice: int) -> None:
    """Run at niceness ``nice`` unless the process already runs lower (raising priority needs privileges).

    Here, not in the runner: it applies to the whole process, which is the stage's only when run from the CLI.
    """
    if nice > os.getpriority(os.PRIO_PROCESS, 0):
        os.setpriority(os.PRIO_PROCESS, 0, nice)


def stage_settings() -> dict[str, tuple[type, ...]]:
    """Each registered stage's own settings classes, by stage name."""
    return {name: stage.settings for name, stage in registry.stages().items()}


def _topics_command(args: argparse.Namespace) -> int:
    from stages.core import topics

    outcome = _run(topics.create(settings.load(KafkaConfig, args), settings.load(TopicsConfig, args)))
    for name, state in outcome.items():
        print(f"{name}: {state}")
    return 0


def _publish_command(args: argparse.Namespace) -> int:
    from stages.tools.progress import counter
    from stages.tools.publish import publish

    kafka_config = settings.load(KafkaConfig, args)
    # Bytes, decoded line by line: a line that is not UTF-8 is refused on its own (bad_encoding).
    stream = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    with stream, counter("published") as progress:
        result = _run(publish(kafka_config, stream, progress=progress))
    print(f"published {result.published} URL messages to {kafka_config.topic_urls}; "
          f"rejected {result.rejected} lines (see {kafka_config.topic_dlq})")
    return 0 if result.published or not result.rejected else 1


def _tail_command(args: argparse.Namespace) -> int:
    from stages.tools.tail import tail

    _run(tail(settings.load(KafkaConfig, args), args.topic, from_beginning=args.from_beginning,
              max_messages=args.max_messages, idle_seconds=args.idle_seconds))
    return 0


def _replay_command(args: argparse.Namespace) -> int:
    from stages.tools import replay
    from stages.tools.diff import render

    kafka_config = settings.load(KafkaConfig, args)
    parser_config = settings.load(ParserConfig, args)
    since = None if args.from_beginning else parse_since(args.since)
    if args.dry_run:
        storage = settings.load(SinkConfig, args).storage
        result = _run(replay.dry_run(kafka_config, parser_config, since=since, sample=args.sample,
                                     storage=storage))
        for line in render(result.diff, result.old, result.new):
            print(line)
        diff = result.diff
        print(f"dry run: re-parsed {result.pages} pages ({result.failed} failed), {len(result.new)} products: "
              f"changed={len(diff.changed)} gained={len(diff.gained)} lost={len(diff.lost)} "
              f"unchanged={diff.unchanged}; nothing was produced")
        return 0
    from stages.parser.stage import ParserStage

    runner_config = settings.load(RunnerConfig, args, defaults=ParserStage.runner_defaults)
    group = replay.replay_group(kafka_config, args.group)
    from stages.tools.progress import counter

    with counter("re-parsed") as progress:
        outcome = _run(replay.replay(kafka_config, runner_config, parser_config, group=group, since=since,
                                     progress=progress))
    print(f"replay: re-parsed {outcome.pages} pages of {kafka_config.topic_pages} as group {group}, "
          f"produced {outcome.products} product records to {kafka_config.topic_products}, "
          f"{outcome.dead_lettered} pages to {kafka_config.topic_dlq}")
    return 0


def _run_command(args: argparse.Namespace) -> int:
    from stages.tools.supervise import supervise

    replicas = {stage: getattr(args, f"{stage}s") for stage in stage_settings()}
    env = {settings.env_name(name): str(value) for name, value in vars(args).items()
           if value is not None and name in _setting_names()}
    metrics = settings.load(MetricsConfig, args)
    env[settings.env_name("metrics_host")] = metrics.metrics_host
    return _run(supervise(replicas, env, metrics_port=metrics.metrics_port))


def _setting_names() -> set[str]:
    classes = (KafkaConfig, RunnerConfig, *[c for group in stage_settings().values() for c in group])
    return {option.lstrip("-").replace("-", "_") for option, *_ in settings.describe(*classes)}


def _status_command(args: argparse.Namespace) -> int:
    from stages.tools.status import status

    try:
        _run(status(settings.load(KafkaConfig, args), metrics=args.metrics, metrics_ports=args.metrics_ports,
                    watch=args.watch, interval_seconds=args.interval_seconds))
    except KeyboardInterrupt:
        pass
    return 0


def _dlq_command(args: argparse.Namespace) -> int:
    from stages.tools.dlq import summarise

    kafka_config = settings.load(KafkaConfig, args)
    summaries = _run(summarise(kafka_config))
    if not summaries:
        print(f"{kafka_config.topic_dlq} is empty")
    for s in summaries:
        print(f"{s.count:>8}  {s.stage:8} {s.error_class:28} {s.first_failed_at} .. {s.last_failed_at}")
        print(f"{'':10}e.g. {s.example_text()}")
    return 0


def _redrive_command(args: argparse.Namespace) -> int:
    from stages.tools.dlq import redrive

    since = parse_since(args.since) if args.since else None
    result = _run(redrive(settings.load(KafkaConfig, args), args.error_class, since))
    targets = ", ".join(f"{topic}: {count}" for topic, count in sorted(result.sent.items())) or "nothing"
    print(f"redrove {result.total} records of {args.error_class} ({targets}); skipped {result.skipped} "
          f"without a stage to return to; {result.missing} no longer in Kafka")
    return 0


def _add_operations(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser("status", help="topics, group lag and each stage's throughput, RSS and pauses")
    sub.add_argument("--watch", action="store_true", help="refresh live until Ctrl-C")
    sub.add_argument("--interval-seconds", type=float, default=2.0,
                     help="between refreshes, and between the two scrapes that give throughput")
    sub.add_argument("--metrics", nargs="*", default=[], metavar="URL",
                     help="stage metrics endpoints, e.g. http://127.0.0.1:9400/metrics")
    sub.add_argument("--metrics-ports", default=None, metavar="PORTS",
                     help="find stages on 127.0.0.1 at these ports, e.g. 9400-9409 (as `run --metrics-port` sets)")
    settings.add_options(sub, KafkaConfig)
    _common(sub)
    sub.set_defaults(func=_status_command)

    sub = commands.add_parser("dlq", help="summarise the DLQ by stage and error class, with an example each")
    settings.add_options(sub, KafkaConfig)
    _common(sub)
    sub.set_defaults(func=_dlq_command)

    sub = commands.add_parser("redrive", help="send DLQ records of one error class back to the stage they failed in")
    sub.add_argument("--error-class", required=True, help="e.g. http_status, robots_disallowed, too_large")
    sub.add_argument("--since", default=None, metavar="TIME", help="only records that failed at or after this ISO time")
    settings.add_options(sub, KafkaConfig)
    _common(sub)
    sub.set_defaults(func=_redrive_command)


def _parse_command(args: argparse.Namespace) -> int:
    import orjson

    from stages.parser.rules import load_rules
    from stages.tools.parse import parse_page, read_page, table

    data = sys.stdin.buffer.read() if args.file == "-" else _read_file(args.file)
    rules = load_rules(args.rules) if args.rules else None
    extraction, parsed = parse_page(read_page(data), url=args.url, rules=rules, charset=args.charset)
    if args.json:
        for product in parsed:
            sys.stdout.buffer.write(orjson.dumps({"record": product.record, "sources": product.sources},
                                                 option=orjson.OPT_APPEND_NEWLINE))
    else:
        for line in table(extraction, parsed):
            print(line)
    return 0


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError as error:
        raise ConfigError(f"cannot read page {path}: {error.strerror}") from error


def _config_command(args: argparse.Namespace) -> int:
    classes = (KafkaConfig, RunnerConfig, MetricsConfig, TopicsConfig,
               *[c for g in stage_settings().values() for c in g])
    for cls in classes:
        if args.markdown:
            print(f"\n**{cls.__name__}**: {(cls.__doc__ or '').strip().splitlines()[0]}\n")
            print("| option | environment | default | meaning |\n|---|---|---|---|")
        for option, env, default, help_text in settings.describe(cls):
            if args.markdown:
                print(f"| `{option}` | `{env}` | `{default}` | {help_text} |")
            else:
                print(f"{option:36} {env:44} {default:>24}  {help_text}")
    return 0


def _shop_command(args: argparse.Namespace) -> int:
    from stages.demoshop.server import main as shop_main

    return shop_main(args.shop_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crawlpipe", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for stage, classes in stage_settings().items():
        sub = commands.add_parser(stage, help=f"run the {stage} stage")
        settings.add_options(sub, KafkaConfig, RunnerConfig, MetricsConfig, *classes)
        _common(sub)
        sub.set_defaults(func=_stage_command)

    sub = commands.add_parser("topics", help="create the pipeline's topics (idempotent)")
    sub.add_argument("action", choices=("create",))
    settings.add_options(sub, KafkaConfig, TopicsConfig)
    _common(sub)
    sub.set_defaults(func=_topics_command)

    sub = commands.add_parser("publish", help="publish URLs (one per line, or JSON lines) to the URL topic")
    sub.add_argument("file", help="input file, or - for standard input")
    settings.add_options(sub, KafkaConfig)
    _common(sub)
    sub.set_defaults(func=_publish_command)

    sub = commands.add_parser("tail", help="print a topic's messages, decoded")
    sub.add_argument("topic")
    sub.add_argument("--from-beginning", action="store_true", help="start at the oldest message")
    sub.add_argument("--max-messages", type=int, default=None, help="stop after this many")
    sub.add_argument("--idle-seconds", type=float, default=None, help="stop after this long without a message")
    settings.add_options(sub, KafkaConfig)
    _common(sub)
    sub.set_defaults(func=_tail_command)

    sub = commands.add_parser("replay", help="re-parse the pages topic from a point in time, without fetching")
    start = sub.add_mutually_exclusive_group(required=True)
    start.add_argument("--since", metavar="TIMESTAMP",
                       help="ISO 8601 instant (UTC if it names no offset), e.g. 2026-11-27T08:00:00Z")
    start.add_argument("--from-beginning", action="store_true", help="replay every page the topic still holds")
    sub.add_argument("--group", default=None,
                     help="consumer group of the replay [default <group-prefix>-parser-replay]")
    sub.add_argument("--dry-run", action="store_true",
                     help="re-parse a sample, produce nothing, print a diff against the stored products")
    sub.add_argument("--sample", type=int, default=50, help="pages a dry run re-parses [default 50]")
    sub.add_argument("--storage", default=None,
                     help="the sink's storage a dry run compares with [env CRAWLPIPE_STORAGE; "
                          "default 'sqlite:///crawlpipe.db']")
    settings.add_options(sub, KafkaConfig, RunnerConfig, ParserConfig)
    _common(sub)
    sub.set_defaults(func=_replay_command)

    sub = commands.add_parser("run", help="run all three stages as supervised child processes")
    for stage in stage_settings():
        sub.add_argument(f"--{stage}s", type=int, default=1, help=f"{stage} processes")
    settings.add_options(sub, KafkaConfig, RunnerConfig, MetricsConfig,
                         *[c for g in stage_settings().values() for c in g])
    _common(sub)
    sub.set_defaults(func=_run_command)
    _add_operations(commands)

    sub = commands.add_parser("parse", help="what the parser would extract from one saved page, field by field")
    sub.add_argument("--url", required=True, help="the URL the page was fetched from (links resolve against it, "
                                                  "rules are chosen by its host)")
    sub.add_argument("--rules", default=None, help="site rules file (TOML), as the parser's --rules")
    sub.add_argument("--charset", default=None, help="the charset the HTTP Content-Type header named, if any")
    sub.add_argument("--json", action="store_true", help="JSON lines {record, sources} instead of a table")
    sub.add_argument("file", help="the saved page, plain or gzip; - reads stdin")
    sub.set_defaults(func=_parse_command)

    sub = commands.add_parser("config", help="list every setting, its environment variable and default")
    sub.add_argument("--markdown", action="store_true", help="as Markdown tables (the README's reference)")
    sub.set_defaults(func=_config_command)

    sub = commands.add_parser("shop", help="serve the demo shop on 127.0.0.1 (see --help of the shop)")
    sub.add_argument("shop_args", nargs=argparse.REMAINDER)
    sub.set_defaults(func=_shop_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import os

    args = build_parser().parse_args(argv)
    logs.configure(getattr(args, "log_level", None) or os.environ.get("CRAWLPIPE_LOG_LEVEL", "INFO"),
                   getattr(args, "log_format", None) or os.environ.get("CRAWLPIPE_LOG_FORMAT", "plain"))
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except ConfigError as error:
        print(f"crawlpipe {args.command}: configuration error: {error}", file=sys.stderr)
        return 2
    except KafkaUnavailable as error:
        print(f"crawlpipe {args.command}: {error}", file=sys.stderr)
        return 3
    except MemoryExhausted as error:
        print(f"crawlpipe {args.command}: {error}", file=sys.stderr)
        return 4
    except CrawlpipeError as error:
        print(f"crawlpipe {args.command}: {error.error_class}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
