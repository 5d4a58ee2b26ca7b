"""The project's versioned schema files, and the decision which of them a database still needs.

Migrations live in ``stages/sink/migrations/<dialect>/NNNN_name.sql``, numbered
from 1 without gaps. A database records each applied version in its
``schema_version`` table; each backend applies the pending files, in order, in
one transaction together with the version check, so a failed migration leaves
the database as it was. A database newer than this code is refused rather than
written with assumptions about a schema this code has never seen.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from stages.core.errors import ConfigError

MIGRATIONS_ROOT = Path(__file__).resolve().parent.parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema file: its version number, file name and SQL text."""

    version: int
    name: str
    sql: str


def load_migrations(directory: Path) -> list[Migration]:
    """Read a dialect's migration files in version order; refuse duplicate versions and stray names.

    Versions may have gaps: two branches each adding a migration number theirs apart
    (0002 on one, 0003 on the other) so that merging them needs no renumbering.
    """
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ConfigError(f"migration file {path} is not named NNNN_lowercase_name.sql")
        migrations.append(Migration(int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions) or (versions and versions[0] != 1):
        raise ConfigError(
            f"migrations in {directory} must be numbered from 1, each number once; found {versions}"
        )
    return migrations


def pending_migrations(applied: Collection[int], migrations: list[Migration]) -> list[Migration]:
    """The migrations not yet ``applied`` to a database, in order, or ``ConfigError`` if it is newer.

    By set, not by the highest version: a database migrated to 3 before a 2 was merged in still gets 2.
    """
    known = migrations[-1].version if migrations else 0
    current_version = max(applied, default=0)
    if current_version > known:
        raise ConfigError(
            f"database schema version {current_version} is newer than this crawlpipe knows ({known}); "
            "upgrade crawlpipe"
        )
    return [migration for migration in migrations if migration.version not in applied]
