"""``crawlpipe.toml``: every setting in one file, a ``[shared]`` section and one section per stage.

A deployment writes its Kafka address, credentials and sizes once instead
of a dozen variables per stage. The file is found at ``--config FILE``, then
``CRAWLPIPE_CONFIG``, then ``./crawlpipe.toml`` if it exists. It sits below
flags and the environment and above the defaults (``stages.core.settings``);
a stage's section wins over ``[shared]``. The whole file is checked before
any work starts: an unknown section or key, or a value of the wrong type,
is an error that names it. Relative paths are read from the file's folder.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.core.errors import ConfigError
from stages.core.settings import from_file

SHARED = "shared"
DEFAULT_NAME = "crawlpipe.toml"
ENV_NAME = "CRAWLPIPE_CONFIG"


@dataclass(frozen=True)
class ConfigFile:
    """The file's checked, typed values by section; empty when there is no file."""

    path: Path | None = None
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def values(self, section: str | None = None) -> dict[str, Any]:
        """``[shared]`` overlaid with ``[section]``."""
        merged = dict(self.sections.get(SHARED, {}))
        if section is not None:
            merged.update(self.sections.get(section, {}))
        return merged


def locate(given: str | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    """The file to read: ``--config``, then ``CRAWLPIPE_CONFIG``, then ``crawlpipe.toml`` here if present."""
    if given:
        return Path(given)
    if env.get(ENV_NAME):
        return Path(env[ENV_NAME])
    default = cwd / DEFAULT_NAME
    return default if default.is_file() else None


def read(path: Path | None, schema: Mapping[str, tuple[type, ...]]) -> ConfigFile:
    """Read and check ``path`` against ``schema``: which settings classes each section may set."""
    if path is None:
        return ConfigFile()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    sections: dict[str, dict[str, Any]] = {}
    for section, table in document.items():
        if section not in schema:
            raise ConfigError(f"{path}: unknown section [{section}]; sections are "
                              + ", ".join(f"[{name}]" for name in schema))
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section} must be a section ([{section}]), not a value")
        sections[section] = _section(path, section, table, schema[section])
    return ConfigFile(path, sections)


def _section(path: Path, section: str, table: Mapping[str, Any], classes: tuple[type, ...]) -> dict[str, Any]:
    owners = {f.name: cls for cls in classes for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{path}: [{section}] {key}"
        name = key.replace("-", "_")
        if name not in owners:
            raise ConfigError(f"{where}: unknown setting (`crawlpipe config` lists them)")
        typed = from_file(owners[name], name, value, where)
        values[name] = path.parent / typed if isinstance(typed, Path) else typed
    return values
