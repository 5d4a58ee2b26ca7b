"""JSON-lines storage: an append-only log of product records, in files rotated by size and age.

It is a log, not a table: no upsert, no ``price_history``, and because the
pipeline delivers at least once the same record can appear more than once
(after a retry, a restart, or a crash between the fsync and the offset
commit). A reader that wants current state keeps, per ``id``, the record with
the greatest (``fetched_at``, ``parsed_at``): the same rule the SQL backends
apply.

Visibility: the file being written is ``.products-<UTC time>-<n>.jsonl.part``;
only a finished file is renamed to ``products-<UTC time>-<n>.jsonl``, so a
reader listing ``*.jsonl`` sees only complete files in which every line parses.

Durability: each batch is one append followed by ``fsync`` before
``write_batch`` returns; creating and renaming a file also fsyncs the directory,
so neither the file nor its final name can vanish in a power loss.

Crash recovery: a ``.part`` file left by a crashed writer still holds
acknowledged batches. ``start`` cuts off its torn last line, if any, and renames
it like a rotation. A writer holds an exclusive ``flock`` on its open file, so
``start`` never touches a file that another live sink is still writing.

Rotation is checked when a batch arrives and, so that the end of a crawl does
not wait in a hidden ``.part`` file until the sink stops, by a timer at least
once a second (``ROTATION_CHECK_SECONDS``): an idle file is finished within about
a second of ``max_seconds``.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote

import orjson

from stages.core.errors import BadMessage, ConfigError, TransientError
from stages.sink.storage.base import BatchResult

URL_PREFIX = "jsonl:///"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_SECONDS = 300.0
PART_GLOB = ".products-*.jsonl.part"
_TAIL_BLOCK_BYTES = 64 * 1024
# Longest an idle file outlives its max_seconds.
ROTATION_CHECK_SECONDS = 1.0

log = logging.getLogger("crawlpipe.sink.jsonl")

T = TypeVar("T")
Number = TypeVar("Number", int, float)


@dataclass(slots=True)
class _OpenFile:
    fd: int
    part: Path
    final: Path
    size: int
    opened_at: float


class JsonlStorage:
    """Appends product records to rotating JSON-lines files (see the module docstring)."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._max_bytes = max_bytes
        self._max_seconds = max_seconds
        self._clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._current: _OpenFile | None = None
        self._sequence = 0
        self._rotation: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str) -> JsonlStorage:
        """Build from ``jsonl:///relative/dir`` or ``jsonl:////absolute/dir``, ``?max_bytes=N&max_seconds=S``."""
        rest = url[len(URL_PREFIX) :] if url.startswith(URL_PREFIX) else ""
        path, _, query = rest.partition("?")
        if not path:
            raise ConfigError(
                f"JSONL storage URL {url!r} is malformed; use jsonl:///relative/dir or jsonl:////absolute/dir, "
                "optionally with ?max_bytes=N&max_seconds=S"
            )
        params = parse_qs(query, keep_blank_values=True)
        unknown = sorted(set(params) - {"max_bytes", "max_seconds"})
        if unknown:
            raise ConfigError(
                f"JSONL storage URL {url!r}: unknown parameter(s) {unknown}; known: max_bytes, max_seconds"
            )
        return cls(
            Path(unquote(path)),
            max_bytes=_positive(params, "max_bytes", int, DEFAULT_MAX_BYTES, url),
            max_seconds=_positive(params, "max_seconds", float, DEFAULT_MAX_SECONDS, url),
        )

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crawlpipe-jsonl")
        try:
            await self._call(self._recover)
        except OSError as exc:
            await self.close()
            raise ConfigError(f"JSONL storage directory {self._directory}: {exc}") from exc
        self._rotation = asyncio.create_task(self._rotate_idle_files())

    async def _rotate_idle_files(self) -> None:
        interval = min(self._max_seconds, ROTATION_CHECK_SECONDS)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._call(self._rotate_if_due)
            except OSError as exc:
                # The file stays open and is tried again on the next tick, batch or close.
                log.warning("JSONL storage %s: cannot finish the idle file yet: %s", self._directory, exc)

    async def write_batch(self, records: Sequence[dict[str, Any]]) -> BatchResult:
        if self._executor is None:
            raise RuntimeError("JsonlStorage.write_batch called before start()")
        if not records:
            return BatchResult()
        data = b"".join(_encode(record) for record in records)
        try:
            await self._call(self._append, data)
        except OSError as exc:
            raise TransientError(
                f"JSONL storage directory {self._directory}: {exc}", error_class="storage_unavailable"
            ) from exc
        return BatchResult(inserted=len(records))

    async def close(self) -> None:
        if self._rotation is not None:
            self._rotation.cancel()
            await asyncio.gather(self._rotation, return_exceptions=True)
            self._rotation = None
        if self._executor is None:
            return
        try:
            await self._call(self._finish_current)
        except OSError as exc:
            raise TransientError(
                f"JSONL storage directory {self._directory}: cannot finish the current file ({exc}); "
                "the next start recovers it",
                error_class="storage_unavailable",
            ) from exc
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        # One worker thread: file operations happen in the order they were asked for.
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _append(self, data: bytes) -> None:
        self._rotate_if_due()
        current = self._current or self._open_new()
        try:
            _write_all(current.fd, data)
            os.fsync(current.fd)
        except OSError:
            self._undo_torn_write(current)
            raise
        current.size += len(data)
        self._rotate_if_due()

    def _rotate_if_due(self) -> None:
        current = self._current
        if current is not None and (
            current.size >= self._max_bytes or self._clock() - current.opened_at >= self._max_seconds
        ):
            self._finish_current()

    def _open_new(self) -> _OpenFile:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        while True:
            name = f"products-{stamp}-{self._sequence:04d}.jsonl"
            self._sequence += 1
            part, final = self._directory / f".{name}.part", self._directory / name
            try:
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
            except FileExistsError:
                continue
            if final.exists():
                # Another sink finished a file of this name since; our exclusive .part proves none is open.
                os.close(fd)
                part.unlink()
                continue
            fcntl.flock(fd, fcntl.LOCK_EX)
            _fsync_directory(self._directory)
            self._current = _OpenFile(fd=fd, part=part, final=final, size=0, opened_at=self._clock())
            return self._current

    def _finish_current(self) -> None:
        current, self._current = self._current, None
        if current is None:
            return
        try:
            if current.size:
                # Rename while still holding the lock, so recovery in another sink never sees it unlocked.
                os.rename(current.part, current.final)
            else:
                current.part.unlink()
            _fsync_directory(self._directory)
        finally:
            os.close(current.fd)

    def _undo_torn_write(self, current: _OpenFile) -> None:
        """Cut a failed append back to the last complete batch, or give the file up to recovery."""
        try:
            os.ftruncate(current.fd, current.size)
            os.fsync(current.fd)
        except OSError:
            self._current = None
            os.close(current.fd)

    def _recover(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        for part in sorted(self._directory.glob(PART_GLOB)):
            _recover_part(part)


def _recover_part(part: Path) -> None:
    """Finish a crashed writer's ``.part`` file: keep its complete lines and give it its final name."""
    try:
        fd = os.open(part, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # finished by its writer since the directory was listed
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # a live sink is writing it
        size = os.fstat(fd).st_size
        if size == 0 or not _still_named(part, fd):
            # Empty: possibly created a moment ago by a writer that has not locked it yet.
            # Renamed: its writer finished it between our open and our lock.
            return
        complete = _complete_length(fd, size)
        os.ftruncate(fd, complete)
        os.fsync(fd)
        if complete:
            os.rename(part, part.with_name(part.name[1 : -len(".part")]))
        else:
            part.unlink()
        _fsync_directory(part.parent)
    finally:
        os.close(fd)


def _still_named(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _complete_length(fd: int, size: int) -> int:
    """The length of the file up to and including its last newline."""
    end = size
    while end > 0:
        start = max(0, end - _TAIL_BLOCK_BYTES)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _encode(record: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError as exc:
        raise BadMessage(f"product {record.get('id')!r} cannot be encoded as JSON: {exc}") from exc


def _positive(
    params: dict[str, list[str]], name: str, parse: Callable[[str], Number], default: Number, url: str
) -> Number:
    """One positive number from the URL's query, or ``ConfigError`` naming the parameter and value."""
    values = params.get(name)
    if values is None:
        return default
    try:
        value = parse(values[0]) if len(values) == 1 else None
    except ValueError:
        value = None
    if value is None or not value > 0:
        raise ConfigError(f"JSONL storage URL {url!r}: {name} must be a single positive number, got {values}")
    return value
