"""``crawlpipe …``: the stages, topic set-up, publishing and inspection.

Every setting can be given as ``--option``, as ``CRAWLPIPE_OPTION`` in the
environment, or left at its default (``crawlpipe config`` lists them all).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from stages.core import logs, settings
from stages.core.config import KafkaConfig, RunnerConfig
from stages.core.errors import ConfigError, CrawlpipeError, KafkaUnavailable
from stages.core.topics import TopicsConfig
from stages.fetcher.config import FetchConfig
from stages.fetcher.settings import RetryConfig
from stages.parser.settings import ParserConfig
from stages.sink.settings import SinkConfig

STAGE_SETTINGS: dict[str, tuple[type, ...]] = {
    "fetcher": (FetchConfig, RetryConfig),
    "parser": (ParserConfig,),
    "sink": (SinkConfig,),
}

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
    stage = _build_stage(args.command, kafka_config, args)
    runner_config = settings.load(RunnerConfig, args, defaults=stage.runner_defaults)

    async def serve() -> None:
        # aiokafka's clients must be created inside the running loop.
        await StageRunner(stage, kafka_config, runner_config).run()

    _run(serve())
    return 0


def _build_stage(name: str, kafka_config: KafkaConfig, args: argparse.Namespace):
    if name == "fetcher":
        from stages.fetcher.stage import FetcherStage

        return FetcherStage(kafka_config, settings.load(FetchConfig, args), settings.load(RetryConfig, args))
    if name == "parser":
        from stages.parser.stage import ParserStage

        return ParserStage(kafka_config, settings.load(ParserConfig, args))
    from stages.sink.stage import SinkStage

    return SinkStage(kafka_config, settings.load(SinkConfig, args))


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
    stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8", errors="replace")
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


def _run_command(args: argparse.Namespace) -> int:
    from stages.tools.supervise import supervise

    replicas = {"fetcher": args.fetchers, "parser": args.parsers, "sink": args.sinks}
    env = {settings.env_name(name): str(value) for name, value in vars(args).items()
           if value is not None and name in _setting_names()}
    return _run(supervise(replicas, env))


def _setting_names() -> set[str]:
    classes = (KafkaConfig, RunnerConfig, *[c for group in STAGE_SETTINGS.values() for c in group])
    return {option.lstrip("-").replace("-", "_") for option, *_ in settings.describe(*classes)}


def _config_command(args: argparse.Namespace) -> int:
    classes = (KafkaConfig, RunnerConfig, TopicsConfig, *[c for g in STAGE_SETTINGS.values() for c in g])
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
    for stage, classes in STAGE_SETTINGS.items():
        sub = commands.add_parser(stage, help=f"run the {stage} stage")
        settings.add_options(sub, KafkaConfig, RunnerConfig, *classes)
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

    sub = commands.add_parser("run", help="run all three stages as supervised child processes")
    for stage in STAGE_SETTINGS:
        sub.add_argument(f"--{stage}s", type=int, default=1, help=f"{stage} processes")
    settings.add_options(sub, KafkaConfig, RunnerConfig, *[c for g in STAGE_SETTINGS.values() for c in g])
    _common(sub)
    sub.set_defaults(func=_run_command)

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
    except CrawlpipeError as error:
        print(f"crawlpipe {args.command}: {error.error_class}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
