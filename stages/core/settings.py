"""Typed settings read from the CLI, then ``CRAWLPIPE_…`` environment, then defaults.

Every setting is a field of a frozen dataclass with its help text in the
field's metadata, so one definition gives the CLI option, the environment
variable, the default and the documentation (``crawlpipe config``). Values
are read at run time, never in default arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from collections.abc import Mapping
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


def _field_type(cls: type, field: dataclasses.Field) -> type:
    hint = typing.get_type_hints(cls)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return args[0]
    return hint


def _convert(cls: type, field: dataclasses.Field, raw: str) -> Any:
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
                help=f"{field.metadata.get('help', '').replace('%', '%%')} [env {env_name(field.name)}; default {field.default!r}]",
            )


def load(cls: type[T], cli: Mapping[str, Any] | argparse.Namespace | None = None,
         env: Mapping[str, str] | None = None, defaults: Mapping[str, Any] | None = None,
         **overrides: Any) -> T:
    """Build ``cls`` from keyword overrides, then CLI values, then the environment, then defaults.

    ``defaults`` replace the class's own defaults (a stage's own window size, say).
    """
    cli_values = vars(cli) if isinstance(cli, argparse.Namespace) else dict(cli or {})
    environ = os.environ if env is None else env
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name in overrides:
            values[field.name] = overrides[field.name]
        elif cli_values.get(field.name) is not None:
            values[field.name] = _convert(cls, field, str(cli_values[field.name]))
        elif env_name(field.name) in environ:
            values[field.name] = _convert(cls, field, environ[env_name(field.name)])
        elif defaults and field.name in defaults:
            values[field.name] = defaults[field.name]
    return cls(**values)


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
