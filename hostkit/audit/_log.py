"""The audit log: numbers, chains and writes one record per event.

Every capability decision (allow and deny), spawn, exit, restart, kill,
policy load and federation connect/refuse becomes one JSON line (the format
is in :mod:`hostkit.audit._record` and ``docs/audit.md``).

Two promises shape this module:

* **The chain is total.** :meth:`AuditLog.record` may be called from the
  Trio thread and from scheduler threads at once; a lock assigns ``seq`` and
  ``prev`` and writes the line to every sink before the next record starts,
  so every sink sees the same gap-free chain in the same order.
* **Nothing is dropped.** Sinks are written synchronously: a slow sink slows
  the callers. A sink that raises makes ``record`` raise :class:`AuditError`
  -- the caller (e.g. the capability gate) must then deny -- and *breaks*
  the log: the failed sink may hold part of a line, so every later
  ``record`` raises too instead of writing records that could not be
  verified. A broken log fails closed until it is reopened.
"""

from __future__ import annotations

import os
import threading
import time as _time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import msgspec

from .._errors import AuditError
from ._capture import active_captures
from ._key import check_key
from ._record import GENESIS_HASH, encode_value, prepare_fields, seal, seal_encoded
from ._sinks import AuditSink, FileSink


class AuditLog:
    """A tamper-evident, append-only log of what the host decided and did.

    The log owns its sinks: :meth:`close` closes them. A log with no sinks is
    valid -- it still numbers and chains records and feeds
    :func:`hostkit.testing.capture_audit`.

    Args:
        sinks: where lines go, written in this order.
        node: this node's name, written into every record.
        path: a log file to append to (a :class:`FileSink` added after
            ``sinks``). If it already holds records, the chain resumes from
            its last line.
        fsync: ``fsync`` the file at ``path`` after every record.
        clock: wall-clock seconds since the epoch; ``time.time`` by default.
        key: the audit key (see `load_audit_key`): every record then also
            carries an HMAC-SHA256 (``mac``) that only a key holder can
            recompute, so a deletion re-chained by someone without the key
            fails ``verify(..., key=)``. Keep it outside the log.

    Raises:
        AuditError: ``path`` cannot be opened or is held by another writer;
            its last line is not an intact record (the message names file and
            line; nothing is appended to a chain that cannot be continued); or
            two file sinks end in different records.
    """

    def __init__(
        self,
        sinks: Sequence[AuditSink] | None = None,
        *,
        node: str = "local",
        path: str | os.PathLike[str] | None = None,
        fsync: bool = False,
        clock: Callable[[], float] | None = None,
        key: bytes | None = None,
    ) -> None:
        self._key = None if key is None else check_key(key)
        self._sinks: list[AuditSink] = list(sinks or ())
        own = None if path is None else FileSink(path, fsync=fsync)
        if own is not None:
            self._sinks.append(own)
        try:
            self._seq, self._prev = _resume_point(self._sinks)
        except BaseException:
            if own is not None:
                own.close()
            raise
        self._node = node
        self._node_json = encode_value(node)
        self._clock = clock or _time.time
        # the timestamp of a record written now: from the integer clock
        # when the clock is the default (one call, no float rounding)
        self._now: Callable[[], str] = (
            _rfc3339_ns if clock is None else lambda: _rfc3339(self._clock())
        )
        self._lock = threading.Lock()
        self._writer: int | None = None  # thread id inside record(), to catch re-entry
        self._closed = False
        self._failure: AuditError | None = None

    @property
    def node(self) -> str:
        """The node name written into every record."""
        return self._node

    @property
    def count(self) -> int:
        """Records in the chain so far (including those resumed from a file);
        also the ``seq`` the next record gets."""
        return self._seq

    @property
    def head(self) -> str:
        """The hash of the last record, or :data:`GENESIS_HASH` if none.

        Keep ``(count, head)`` somewhere the log's writer cannot change (a
        remote store, a ticket): it is the anchor that makes truncation of
        the log's tail detectable (``hostkit audit verify --expect-head``).
        """
        return self._prev

    @property
    def anchor(self) -> str:
        """``"<count>:<head>"``: the anchor to ship somewhere the log's writer
        cannot change; ``hostkit audit verify --anchor`` checks a log against
        it (the log must still hold that record and at least that many)."""
        return f"{self._seq}:{self._prev}"

    @property
    def keyed(self) -> bool:
        """True if records carry an HMAC under an audit key."""
        return self._key is not None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    @property
    def broken(self) -> bool:
        """True once a sink failed; every :meth:`record` then raises."""
        return self._failure is not None

    def record(self, event: str, /, **fields: Any) -> dict[str, Any]:
        """Write one record to every sink; return it.

        Thread-safe. Blocks while sinks are slow, never drops.

        Args:
            event: what happened: ``"decision"``, ``"spawn"``, ``"exit"``,
                ``"restart"``, ``"kill"``, ``"policy-load"``,
                ``"federation-connect"``, ``"federation-refuse"``, ...
            **fields: ``actor``, ``plugin``, ``action``, ``resource``
                (``str``; a ``Pid`` is written as ``str(pid)``), ``decision``
                (``"allow"``/``"deny"``), ``policies`` (list of policy ids),
                ``duration_us`` (``int``), ``detail`` and any other field
                (plain JSON values). Fields set to ``None`` are left out.

        Returns:
            The record as written, with ``seq``, ``time``, ``node``,
            ``prev`` and ``hash``.

        Raises:
            AuditError: the fields are invalid (nothing written, the log
                stays usable); a sink raised (the record does not count as
                written and the log is broken); or the log is closed or
                already broken. The caller must treat the event as not
                audited -- for a capability decision, deny.
        """
        if type(event) is not str or not event:
            raise AuditError(f"audit event must be a non-empty str, not {event!r}")
        body = prepare_fields(fields)
        me = threading.get_ident()
        if self._writer == me:
            raise AuditError("AuditLog.record() called from inside a sink's write()")
        with self._lock:
            self._writer = me
            try:
                return self._write(event, body)
            finally:
                self._writer = None

    def record_encoded(self, event: bytes, fields: bytes) -> bytes:
        """:meth:`record` for a record the caller already encoded: the fast
        path of the capability gate's per-call decision record.

        Same lock, chain, sinks and failure rules as :meth:`record`; the
        fields are neither checked nor converted. The caller promises
        ``event`` is ``encode_value`` of the event name and ``fields`` is
        the canonical encoding of what ``prepare_fields`` returns for its
        fields, without braces (see `hostkit.audit._record.seal_encoded`):
        every string made inert first, a guest's too -- that is what keeps
        the log inert. ``tests/test_gate_fastpath.py`` checks the gate's
        lines against :meth:`record`'s, byte for byte.

        Returns:
            The line as written (no newline); decode it for the record.

        Raises:
            AuditError: as :meth:`record`, except that fields are not checked.
        """
        me = threading.get_ident()
        if self._writer == me:
            raise AuditError("AuditLog.record() called from inside a sink's write()")
        with self._lock:
            self._writer = me
            try:
                self._check_open()
                seq = self._seq
                line, digest = seal_encoded(
                    seq,
                    self._now(),
                    self._node_json,
                    event,
                    fields,
                    self._prev,
                    self._key,
                )
                self._append(seq, line, digest)
                return line
            finally:
                self._writer = None

    def _check_open(self) -> None:
        if self._closed:
            raise AuditError("the audit log is closed")
        if self._failure is not None:
            raise AuditError(
                f"the audit log is broken since seq {self._seq} and refuses records: "
                f"{self._failure}"
            ) from self._failure

    def _write(self, event: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check_open()
        seq = self._seq
        record, line = seal(
            seq, self._now(), self._node, event, body, self._prev, self._key
        )
        self._append(seq, line, record["hash"])
        return record

    def _append(self, seq: int, line: bytes, digest: str) -> None:
        """Write ``line`` (record ``seq``) to every sink, then advance the chain."""
        text = line.decode() if self._sinks else ""
        for sink in self._sinks:
            try:
                sink.write(text)
            except BaseException as exc:
                self._failure = AuditError(
                    f"audit sink {sink!r} failed writing seq {seq} ({exc!r}); "
                    "the record is not written"
                )
                if isinstance(exc, Exception):
                    raise self._failure from exc
                raise
        self._seq = seq + 1
        self._prev = digest
        for capture in active_captures():
            capture.append(msgspec.json.decode(line))

    def close(self) -> None:
        """Close every sink; later :meth:`record` calls raise. Idempotent.

        Waits for a ``record`` in progress to finish.

        Raises:
            AuditError: a sink failed to close (all were still closed).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            errors: list[tuple[AuditSink, Exception]] = []
            for sink in self._sinks:
                try:
                    sink.close()
                except Exception as exc:
                    errors.append((sink, exc))
        if errors:
            failed, error = errors[0]
            raise AuditError(f"audit sink {failed!r} failed to close: {error!r}") from error

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "broken" if self._failure else "open"
        return f"<AuditLog node={self._node!r} count={self._seq} {state}>"


def _resume_point(sinks: Sequence[AuditSink]) -> tuple[int, str]:
    """``(next seq, prev)`` from the file sinks' tails; they must agree."""
    files = [sink for sink in sinks if isinstance(sink, FileSink)]
    tails = [(sink, sink.tail()) for sink in files]
    if not tails:
        return 0, GENESIS_HASH
    first_sink, first = tails[0]
    for sink, tail in tails[1:]:
        if tail != first:
            raise AuditError(
                f"audit logs {first_sink.path!r} and {sink.path!r} end in different records "
                f"({_describe(first)} vs {_describe(tail)}); one chain cannot continue both"
            )
    if first is None:
        return 0, GENESIS_HASH
    return first.seq + 1, first.hash


def _describe(tail: Any) -> str:
    return "empty" if tail is None else f"seq {tail.seq}, hash {tail.hash[:12]}..."


_second: tuple[int, str] = (-1, "")


def _rfc3339(seconds: float) -> str:
    """``seconds`` since the epoch as RFC 3339 UTC with microseconds.

    The date and time up to the second are formatted once per second (that
    part costs ~1 us through datetime; records come thousands per second).
    """
    global _second
    # the same rounding as datetime.fromtimestamp: round the fraction alone
    # (int() and the subtraction are math.modf, exactly, without its tuple)
    whole = int(seconds)
    frac = round((seconds - whole) * 1_000_000)
    if frac >= 1_000_000:
        whole, frac = whole + 1, frac - 1_000_000
    elif frac < 0:
        whole, frac = whole - 1, frac + 1_000_000
    cached = _second
    if cached[0] != whole:
        cached = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S."))
        _second = cached  # one tuple: safe to swap between threads
    return "%s%06dZ" % (cached[1], frac)  # noqa: UP031 (faster than an f-string here)


def _rfc3339_ns(ns: int | None = None) -> str:
    """``ns`` nanoseconds since the epoch (default: now) as RFC 3339 UTC,
    rounded to the microsecond: `_rfc3339` on the integer clock."""
    global _second
    whole, frac = divmod(((_time.time_ns() if ns is None else ns) + 500) // 1000, 1_000_000)
    cached = _second
    if cached[0] != whole:
        cached = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S."))
        _second = cached
    return "%s%06dZ" % (cached[1], frac)  # noqa: UP031 (faster than an f-string here)
