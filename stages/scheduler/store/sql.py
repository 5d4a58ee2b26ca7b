"""The schedule's SQL, one text for SQLite and PostgreSQL: ``{0}``, ``{1}``… are the parameters' places."""

from __future__ import annotations

from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# Its own version table: the schedule may share a database with the sink, whose versions are not its own.
VERSION_TABLE = "recrawl_schema_version"

ENTRY_COLUMNS = ("product_id", "url", "host", "site", "price", "availability", "visited_at", "interval_seconds",
                 "due_at", "misses")

# Hosts with a due URL whose rate allows another; EXISTS is one probe of the (host, due_at) index each.
READY_HOSTS = (
    "SELECT h.host FROM recrawl_hosts h WHERE h.slot_at <= {0} AND EXISTS "
    "(SELECT 1 FROM recrawl_schedule s WHERE s.host = h.host AND s.due_at <= {1}) ORDER BY h.slot_at, h.host"
)
EARLIEST_DUE = (
    "SELECT product_id, url, host, site, interval_seconds FROM recrawl_schedule "
    "WHERE host = {0} AND due_at <= {1} ORDER BY due_at LIMIT 1"
)
COUNTS = (
    "SELECT COUNT(due_at), COALESCE(SUM(CASE WHEN due_at <= {0} THEN 1 ELSE 0 END), 0), "
    "COALESCE(SUM(CASE WHEN due_at < {1} THEN 1 ELSE 0 END), 0), COUNT(*) - COUNT(due_at) FROM recrawl_schedule"
)
PER_HOST = (
    "SELECT host, COUNT(*) AS scheduled FROM recrawl_schedule WHERE due_at IS NOT NULL "
    "GROUP BY host ORDER BY scheduled DESC, host LIMIT {0}"
)


def qmarks(query: str) -> str:
    """``query`` with SQLite's ``?`` placeholders."""
    return query.format(*["?"] * query.count("{"))


def numbered(query: str) -> str:
    """``query`` with PostgreSQL's ``$1``, ``$2``… placeholders."""
    return query.format(*[f"${n}" for n in range(1, query.count("{") + 1)])
