"""Where the sink stage puts product records: SQLite, PostgreSQL or JSON-lines files.

The sink calls ``open_storage(url)``, then ``start()``, then ``write_batch``
once per batch of ``crawl.products`` records, committing the batch's Kafka
offsets only after ``write_batch`` returns (it returns once the batch is
durable), and ``close()`` at the end. See ``stages/__init__.py`` for the whole
data flow.

Both SQL backends apply the same rules (``batch.py``): upsert by product id,
never let an older record overwrite a newer one, add a ``price_history`` row
when price, currency or availability changes. The JSON-lines backend is an
append-only log (``jsonl.py``).
"""

from __future__ import annotations

from stages.core.errors import ConfigError
from stages.sink.storage.base import BatchResult, Storage, StorageError
from stages.sink.storage.jsonl import JsonlStorage
from stages.sink.storage.postgres import PostgresStorage
from stages.sink.storage.sqlite import SQLiteStorage
from stages.sink.storage.urls import redact_password

__all__ = ["BatchResult", "Storage", "StorageError", "open_storage"]

ACCEPTED_FORMS = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite:///:memory:, "
    "postgresql://user@host:port/database, jsonl:///relative/dir or jsonl:////absolute/dir "
    "(optionally ?max_bytes=N&max_seconds=S)"
)


def open_storage(url: str) -> Storage:
    """The backend for ``url``'s scheme, not yet started; ``ConfigError`` for anything else."""
    scheme = url.partition(":")[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        return SQLiteStorage.from_url(url)
    if scheme in ("postgresql", "postgres"):
        return PostgresStorage(url)
    if scheme == "jsonl":
        return JsonlStorage.from_url(url)
    raise ConfigError(f"storage URL {redact_password(url)!r} is not supported; use one of: {ACCEPTED_FORMS}")
