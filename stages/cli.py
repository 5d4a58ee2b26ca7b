"""``crawlpipe …``: the stages, topic set-up, publishing and inspection.

Every setting can be given as ``--option``, as ``CRAWLPIPE_OPTION`` in the
environment, in a ``crawlpipe.toml`` file, or left at its default
(``crawlpipe config`` lists them all).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from stages.core import config_file, limits, logs, registry, settings
from stages.core.errors import ConfigError
from stages.core.limits import LimitsConfig
from stages.core.logs import LogConfig
from stages.core.messages import parse_since
from stages.core.metrics import MetricsConfig
from stages.core.settings import KafkaConfig, RunnerConfig
from stages.core.topics import TopicsConfig
from stages.parser.settings import ParserConfig
from stages.sink.settings import SinkConfig
from stages.tools import exits

SHARED_SETTINGS: tuple[type, ...] = (KafkaConfig, RunnerConfig, MetricsConfig, TopicsConfig, LogConfig,
                                     LimitsConfig)


def stage_settings() -> dict[str, tuple[type, ...]]:
    """Each registered stage's own settings classes (``stages/core/registry.py``), by stage name.

    Asked each time, not kept: a stage registered after import (a plug-in, a test) counts too.
    """
    return {name: stage.settings for name, stage in registry.stages().items()}


def file_sections() -> dict[str, tuple[type, ...]]:
    """What each section of crawlpipe.toml may set: a stage's section also overrides shared settings for it."""
    return {config_file.SHARED: SHARED_SETTINGS,
            **{stage: SHARED_SETTINGS + classes for stage, classes in stage_settings().items()}}


def command_section(command: str) -> str | None:
    """The file section a command reads besides [shared]: a replay re-parses, so it runs as the parser."""
    return "parser" if command == "replay" else command if command in stage_settings() else None

T = TypeVar("T")

log = logging.getLogger("crawlpipe")


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, metavar="FILE",
                        help=f"settings file (TOML) [env {config_file.ENV_NAME}; "
                             f"default ./{config_file.DEFAULT_NAME} if it exists]")
    settings.add_options(parser, LogConfig)
    parser.add_argument("--debug", action="store_true",
                        help="print the traceback of an error, not just its line [env CRAWLPIPE_DEBUG=1]")


def _load(cls: type[T], args: argparse.Namespace, *, section: str | None = None,
          defaults: Mapping[str, Any] | None = None) -> T:
    """``cls`` from flags, environment, the config file's sections for this command, then defaults."""
    file: config_file.ConfigFile = args.config_file
    return settings.load(cls, args, defaults=defaults,
                         file=file.values(section or command_section(args.command)))


def _stage_command(args: argparse.Namespace) -> int:
    from stages.core.runner import StageRunner

    kafka_config = _load(KafkaConfig, args)
    limits.configure(_load(LimitsConfig, args))
    stage_class = registry.stage(args.command)
    stage = stage_class(kafka_config, *(_load(settings_class, args) for settings_class in stage_class.settings))
    runner_config = _load(RunnerConfig, args, defaults=stage_class.runner_defaults)
    metrics_config = _load(MetricsConfig, args)
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


def _topics_command(args: argparse.Namespace) -> int:
    from stages.core import topics

    outcome = _run(topics.create(_load(KafkaConfig, args), _load(TopicsConfig, args)))
    for name, state in outcome.items():
        print(f"{name}: {state}")
    return 0


def _publish_command(args: argparse.Namespace) -> int:
    from stages.tools.progress import counter
    from stages.tools.publish import publish

    kafka_config = _load(KafkaConfig, args)
    # Bytes, decoded line by line: a line that is not UTF-8 is refused on its own (bad_encoding).
    stream = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    with stream, counter("published") as progress:
        result = _run(publish(kafka_config, stream, progress=progress))
    print(f"published {result.published} URL messages to {kafka_config.topic_urls}; "
          f"rejected {result.rejected} lines (see {kafka_config.topic_dlq})")
    return 0 if result.published or not result.rejected else 1


def _tail_command(args: argparse.Namespace) -> int:
    from stages.tools.tail import tail

    _run(tail(_load(KafkaConfig, args), args.topic, from_beginning=args.from_beginning,
              max_messages=args.max_messages, idle_seconds=args.idle_seconds))
    return 0


def _replay_command(args: argparse.Namespace) -> int:
    from stages.tools import replay
    from stages.tools.diff import render

    kafka_config = _load(KafkaConfig, args)
    parser_config = _load(ParserConfig, args)
    since = None if args.from_beginning else parse_since(args.since)
    if args.dry_run:
        storage = _load(SinkConfig, args, section="sink").storage
        result = _run(replay.dry_run(kafka_config, parser_config, since=since, sample=args.sample,
                                     storage=storage))
        for line in render(result.diff, result.old, result.new):
            print(line)
        diff = result.diff
        print(f"dry run: re-parsed {result.pages} pages ({result.failed} failed), {len(result.new)} products: "
              f"changed={len(diff.changed)} gained={len(diff.gained)} lost={len(diff.lost)} "
              f"unchanged={diff.unchanged} (of which {len(result.stale)} the sink would keep: stored from a newer "
              f"fetch); nothing was produced")
        return 0
    runner_config = _load(RunnerConfig, args, defaults=registry.stage("parser").runner_defaults)
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
    if args.config_file.path is not None:
        env[config_file.ENV_NAME] = str(args.config_file.path.resolve())
    metrics = _load(MetricsConfig, args)
    env[settings.env_name("metrics_host")] = metrics.metrics_host
    wait = args.kafka_unreachable_exit_seconds or os.environ.get("CRAWLPIPE_KAFKA_UNREACHABLE_EXIT_SECONDS", "120")
    try:
        wait_seconds = float(wait)
    except ValueError:
        raise ConfigError(f"--kafka-unreachable-exit-seconds = {wait!r}: a number of seconds") from None
    return _run(supervise(replicas, env, metrics_port=metrics.metrics_port, kafka_config=_load(KafkaConfig, args),
                          kafka_unreachable_exit_seconds=wait_seconds))


def _setting_names() -> set[str]:
    classes = (*SHARED_SETTINGS, *[c for group in stage_settings().values() for c in group])
    return {option.lstrip("-").replace("-", "_") for option, *_ in settings.describe(*classes)}


def _status_command(args: argparse.Namespace) -> int:
    from stages.tools.status import status

    try:
        _run(status(_load(KafkaConfig, args), metrics=args.metrics, metrics_ports=args.metrics_ports,
                    watch=args.watch, interval_seconds=args.interval_seconds))
    except KeyboardInterrupt:
        pass
    return 0


def _dlq_command(args: argparse.Namespace) -> int:
    from stages.tools.dlq import summarise
    from stages.tools.printable import printable

    kafka_config = _load(KafkaConfig, args)
    summaries = _run(summarise(kafka_config))
    if not summaries:
        print(f"{kafka_config.topic_dlq} is empty")
    for s in summaries:
        print(printable(f"{s.count:>8}  {s.stage:8} {s.error_class:28} {s.first_failed_at} .. {s.last_failed_at}"))
        print(f"{'':10}e.g. {s.example_text()}")
    return 0


def _redrive_command(args: argparse.Namespace) -> int:
    from stages.tools.dlq import redrive

    since = parse_since(args.since) if args.since else None
    result = _run(redrive(_load(KafkaConfig, args), args.error_class, since))
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


def stage_defaults() -> dict[str, Mapping[str, Any]]:
    """Each stage's own defaults of shared settings, checked: an unknown name is an error."""
    defaults = {stage: registry.stage(stage).runner_defaults for stage in stage_settings()}
    for values in defaults.values():
        settings.resolve(RunnerConfig, env={}, defaults=values)
    return defaults


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
    from stages.tools import settings_report

    if args.markdown:
        print(settings_report.reference_markdown(file_sections(), stage_defaults()), end="")
        return 0
    stage = args.stage
    classes = file_sections()[stage or config_file.SHARED] if stage or args.effective else \
        (*SHARED_SETTINGS, *[c for g in stage_settings().values() for c in g])
    by_stage = stage_defaults()
    own = by_stage[stage] if stage else {}
    if not args.effective:
        lines = settings_report.listing(classes, own, by_stage)
    else:
        file = args.config_file.values(stage)
        lines = settings_report.effective([
            item for cls in classes
            for item in settings.resolve(cls, args, defaults=own if cls is RunnerConfig else None, file=file)
        ])
    for line in lines:
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crawlpipe", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for stage, classes in stage_settings().items():
        sub = commands.add_parser(stage, help=f"run the {stage} stage")
        settings.add_options(sub, KafkaConfig, RunnerConfig, MetricsConfig, LimitsConfig, *classes)
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
        sub.add_argument(f"--{stage}s", type=int, default=registry.stage(stage).run_replicas,
                         help=f"{stage} processes")
    sub.add_argument("--kafka-unreachable-exit-seconds", default=None, metavar="SECONDS",
                     help="stop every stage and exit 3 when Kafka stays unreachable this long "
                          "[env CRAWLPIPE_KAFKA_UNREACHABLE_EXIT_SECONDS; default 120]")
    settings.add_options(sub, KafkaConfig, RunnerConfig, MetricsConfig, LimitsConfig,
                         *[c for g in stage_settings().values() for c in g])
    _common(sub)
    sub.set_defaults(func=_run_command)
    _add_operations(commands)

    sub = commands.add_parser("config", help="list every setting, its environment variable and default")
    sub.add_argument("--markdown", action="store_true",
                     help="as Markdown tables (the reference in docs/configuration.md)")
    sub.add_argument("--stage", choices=tuple(stage_settings()), default=None,
                     help="the shared and own settings of this stage, with the defaults it really runs with")
    sub.add_argument("--effective", action="store_true",
                     help="each value as this command's flags, the environment, the file and the defaults make "
                          "it, and where it came from")
    settings.add_options(sub, *[c for c in SHARED_SETTINGS if c is not LogConfig],
                         *[c for g in stage_settings().values() for c in g])
    _common(sub)
    sub.set_defaults(func=_config_command)

    sub = commands.add_parser("parse", help="what the parser would extract from one saved page, field by field")
    sub.add_argument("--url", required=True, help="the URL the page was fetched from (links resolve against it, "
                                                  "rules are chosen by its host)")
    sub.add_argument("--rules", default=None, help="site rules file (TOML), as the parser's --rules")
    sub.add_argument("--charset", default=None, help="the charset the HTTP Content-Type header named, if any")
    sub.add_argument("--json", action="store_true", help="JSON lines {record, sources} instead of a table")
    sub.add_argument("file", help="the saved page, plain or gzip; - reads stdin")
    _common(sub)
    sub.set_defaults(func=_parse_command)

    commands.add_parser("shop", help="serve the demo shop on 127.0.0.1 (crawlpipe shop --help); "
                                     "--print-rules prints its parser rules file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["shop"]:
        # argparse's REMAINDER drops options that come first (`shop --pages 3`): the shop parses its own.
        from stages.demoshop.server import main as shop_main

        return shop_main(argv[1:])
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func

    def command() -> int:
        path = config_file.locate(getattr(args, "config", None), os.environ, Path.cwd())
        args.config_file = config_file.read(path, file_sections())
        logs.configure(_load(LogConfig, args))
        return handler(args)

    return exits.run(args.command, command, debug=exits.debugging(args))


if __name__ == "__main__":
    sys.exit(main())
