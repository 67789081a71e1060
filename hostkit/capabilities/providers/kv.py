"""The stock ``hostkit:host/kv`` provider: per-plugin state in SQLite.

One database file holds every plugin's keys in one table keyed by
``(plugin, key)``. The plugin half of the key always comes from
``ctx.plugin`` (set by the host), never from the guest, so no guest input can
name another plugin's keys. Scheduler threads call concurrently; a single
connection behind a lock serializes them (SQLite serializes writers anyway).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from .._context import CallContext
from .._hookspecs import hookimpl
from .._host_errors import (
    HostCallInvalid,
    HostCallIOError,
    HostCallNotFound,
    HostCallQuotaExceeded,
    HostCallTooLarge,
)

__all__ = ["KvProvider"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    plugin TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (plugin, key)
) WITHOUT ROWID
"""

_MAX_CODE_POINT = 0x10FFFF


class KvProvider:
    """Serves ``kv_*`` hooks from the SQLite database at ``path``.

    Args:
        path: The database file; created (with its table) if missing. The
            same file opened again, e.g. after a restart, has the same state.
        max_key_bytes: Longest key, in UTF-8 bytes.
        max_value_bytes: Longest value, in UTF-8 bytes.
        max_keys: Quota: most keys one plugin may hold.
        max_total_bytes: Quota: most bytes (keys plus values, UTF-8) one
            plugin may hold, 64 MiB by default. Usage is counted from the
            database itself when a plugin is first seen (so it holds across
            restarts), then kept in this object: give each database file
            one provider at a time.
        page_size: Most keys one ``list_keys`` call returns.

    Call :meth:`close` when done (it is also a context manager).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_key_bytes: int = 1024,
        max_value_bytes: int = 1024 * 1024,
        max_keys: int = 100_000,
        max_total_bytes: int = 64 * 1024 * 1024,
        page_size: int = 1000,
    ) -> None:
        self.max_key_bytes = max_key_bytes
        self.max_value_bytes = max_value_bytes
        self.max_keys = max_keys
        self.max_total_bytes = max_total_bytes
        self.page_size = page_size
        self._usage: dict[str, list[int]] = {}  # plugin -> [bytes, keys], loaded on first use
        self._lock = threading.Lock()
        # One connection shared by all threads, serialized by _lock.
        self._db = sqlite3.connect(os.fspath(path), check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the database. Later calls raise ``HostCallIOError``."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> KvProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @hookimpl
    def kv_get(self, ctx: CallContext, key: str) -> str:
        self._check_key(key)
        with self._locked() as db:
            row = db.execute(
                "SELECT value FROM kv WHERE plugin = ? AND key = ?", (ctx.plugin, key)
            ).fetchone()
        if row is None:
            raise HostCallNotFound(f"no key {key!r}")
        return str(row[0])

    @hookimpl
    def kv_set(self, ctx: CallContext, key: str, value: str) -> Literal[True]:
        self._check_key(key)
        size = _utf8_len(value, "value")
        if size > self.max_value_bytes:
            raise HostCallTooLarge(f"value exceeds {self.max_value_bytes} bytes")
        key_size = len(key.encode("utf-8"))
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                usage = self._usage_of(db, ctx.plugin)
                row = db.execute(
                    "SELECT length(CAST(value AS BLOB)) FROM kv WHERE plugin = ? AND key = ?",
                    (ctx.plugin, key),
                ).fetchone()
                added_keys = 1 if row is None else 0
                added = size - (0 if row is None else int(row[0])) + key_size * added_keys
                if usage[1] + added_keys > self.max_keys:
                    raise HostCallQuotaExceeded(
                        f"quota: plugin {ctx.plugin!r} already holds {self.max_keys} keys"
                    )
                if added > 0 and usage[0] + added > self.max_total_bytes:
                    raise HostCallQuotaExceeded(
                        f"quota: plugin {ctx.plugin!r} may hold at most {self.max_total_bytes} "
                        f"bytes of kv ({usage[0]} held, this set adds {added})"
                    )
                db.execute(
                    "INSERT INTO kv (plugin, key, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value",
                    (ctx.plugin, key, value),
                )
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            usage[0] += added
            usage[1] += added_keys
        return True

    @hookimpl
    def kv_delete(self, ctx: CallContext, key: str) -> bool:
        self._check_key(key)
        with self._locked() as db:
            usage = self._usage_of(db, ctx.plugin)
            row = db.execute(
                "SELECT length(CAST(value AS BLOB)) FROM kv WHERE plugin = ? AND key = ?",
                (ctx.plugin, key),
            ).fetchone()
            cursor = db.execute("DELETE FROM kv WHERE plugin = ? AND key = ?", (ctx.plugin, key))
            if cursor.rowcount > 0 and row is not None:
                usage[0] -= int(row[0]) + len(key.encode("utf-8"))
                usage[1] -= 1
        return cursor.rowcount > 0

    def usage(self, plugin: str) -> tuple[int, int]:
        """Bytes (keys plus values) and keys ``plugin`` holds."""
        with self._locked() as db:
            found = self._usage_of(db, plugin)
            return found[0], found[1]

    def _usage_of(self, db: sqlite3.Connection, plugin: str) -> list[int]:
        found = self._usage.get(plugin)
        if found is None:
            keys, size = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(length(CAST(key AS BLOB)) "
                "+ length(CAST(value AS BLOB))), 0) FROM kv WHERE plugin = ?",
                (plugin,),
            ).fetchone()
            found = self._usage[plugin] = [int(size), int(keys)]
        return found

    @hookimpl
    def kv_list_keys(
        self, ctx: CallContext, prefix: str, start_after: str, limit: int
    ) -> list[str]:
        if limit <= 0 or limit > self.page_size:
            limit = self.page_size
        _utf8_len(prefix, "prefix")
        _utf8_len(start_after, "start-after")
        sql = "SELECT key FROM kv WHERE plugin = ? AND key >= ? AND key > ?"
        params: list[object] = [ctx.plugin, prefix, start_after]
        high = _prefix_upper_bound(prefix)
        if high is not None:
            sql += " AND key < ?"
            params.append(high)
        sql += " ORDER BY key LIMIT ?"
        params.append(limit)
        with self._locked() as db:
            rows = db.execute(sql, params).fetchall()
        return [str(row[0]) for row in rows]

    def _check_key(self, key: str) -> None:
        if not key:
            raise HostCallInvalid("key is empty")
        if "\x00" in key:
            raise HostCallInvalid("key contains NUL")
        if _utf8_len(key, "key") > self.max_key_bytes:
            raise HostCallTooLarge(f"key exceeds {self.max_key_bytes} bytes")

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise HostCallIOError(f"kv store: {exc}") from None


def _utf8_len(text: str, what: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise HostCallInvalid(f"{what} is not valid Unicode") from None


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string above every string starting with ``prefix``, or
    None if there is none (empty prefix, or only U+10FFFF characters).

    SQLite compares TEXT bytewise in UTF-8, which orders like code points.
    """
    stripped = prefix.rstrip(chr(_MAX_CODE_POINT))
    if not stripped:
        return None
    nxt = ord(stripped[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:  # surrogates have no UTF-8 form
        nxt = 0xE000
    return stripped[:-1] + chr(nxt)
