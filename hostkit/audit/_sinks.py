"""Where audit lines go: the sink protocol, a file sink and a memory sink.

Sinks are written synchronously, under the log's lock, in record order. A
slow sink therefore slows every caller of :meth:`AuditLog.record` -- that is
the point: an audit record is never queued somewhere it could be lost.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any, NamedTuple, Protocol

import msgspec

from .._errors import AuditError
from ._record import LineProblem, check_line

_TAIL_CHUNK = 64 * 1024


class AuditSink(Protocol):
    """Receives every audit line, in order.

    ``write`` is called with one canonical JSON record, without a trailing
    newline, under the log's lock. It must not return before the line is as
    durable as the sink promises; raising means the line may not have been
    written, which breaks the log (see :meth:`AuditLog.record`). ``close`` is
    called once, by :meth:`AuditLog.close`.
    """

    def write(self, line: str) -> None:
        """Store one line (no trailing newline)."""

    def close(self) -> None:
        """Release resources; no more writes follow."""


class Tail(NamedTuple):
    """The last record of an existing log file: where a chain resumes."""

    seq: int
    hash: str


class MemorySink:
    """Keeps every line in :attr:`lines`; for tests and in-process readers."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.closed = False

    def write(self, line: str) -> None:
        """Append ``line`` to :attr:`lines`."""
        self.lines.append(line)

    def close(self) -> None:
        """Mark the sink closed; :attr:`lines` stays readable."""
        self.closed = True

    def records(self) -> list[dict[str, Any]]:
        """The lines decoded, oldest first."""
        return [msgspec.json.decode(line) for line in self.lines]

    def __repr__(self) -> str:
        return f"<MemorySink {len(self.lines)} lines>"


class FileSink:
    """Appends one line per record to a file, flushed before ``write`` returns.

    The file is opened in append mode and locked (``flock``, where the OS has
    it) so a second writer -- another :class:`AuditLog` or process -- is
    refused instead of interleaving two chains.

    Args:
        path: the log file; created if missing.
        fsync: also ``fsync`` after every record, so records survive a power
            failure, at the cost of a disk round trip per record.

    Raises:
        AuditError: the file cannot be opened, or another writer holds it.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = os.fspath(path)
        self.fsync = fsync
        try:
            self._file = open(self.path, "a+b", buffering=0)  # noqa: SIM115 -- kept open
        except OSError as exc:
            raise AuditError(f"cannot open audit log {self.path!r}: {exc}") from exc
        try:
            _lock_exclusive(self._file, self.path)
        except BaseException:
            self._file.close()
            raise

    def write(self, line: str) -> None:
        """Append ``line`` and a newline with one ``write`` call, then flush
        (and ``fsync`` if asked)."""
        view = memoryview(line.encode() + b"\n")
        while view:
            view = view[self._file.write(view) :]
        if self.fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file (and release its lock)."""
        self._file.close()

    def tail(self) -> Tail | None:
        """The last record of the file, checked, or ``None`` if it is empty.

        Only the last line is read and checked (its own hash and form), not
        the chain before it; ``hostkit audit verify`` checks the whole file.

        Raises:
            AuditError: the last line is incomplete, empty or not an intact
                record. The message names the file and the line.
        """
        try:
            return _read_tail(self._file, self.path)
        except OSError as exc:
            raise AuditError(f"cannot read audit log {self.path!r}: {exc}") from exc

    def __repr__(self) -> str:
        return f"<FileSink {self.path!r}>"


def _lock_exclusive(file: io.FileIO, path: str) -> None:
    if sys.platform == "win32":  # pragma: no cover -- no flock; rely on the caller
        return
    import fcntl

    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise AuditError(
            f"audit log {path!r} is already open for writing (by another AuditLog or process); "
            "two writers would interleave two chains"
        ) from None


def _read_tail(file: io.FileIO, path: str) -> Tail | None:
    size = file.seek(0, os.SEEK_END)
    if size == 0:
        return None
    file.seek(size - 1)
    if file.read(1) != b"\n":
        problem = "incomplete (no trailing newline): the writer stopped in the middle of a record"
        raise _corrupt_tail(file, path, _line_start(file, size), problem)
    start = _line_start(file, size - 1)
    file.seek(start)
    raw = file.read(size - 1 - start) or b""
    try:
        record = check_line(raw)
    except LineProblem as exc:
        raise _corrupt_tail(file, path, start, str(exc)) from None
    return Tail(record["seq"], record["hash"])


def _line_start(file: io.FileIO, end: int) -> int:
    """Offset just after the last newline before ``end`` (0 if none)."""
    pos = end
    while pos > 0:
        step = min(_TAIL_CHUNK, pos)
        file.seek(pos - step)
        chunk = file.read(step) or b""
        found = chunk.rfind(b"\n")
        if found >= 0:
            return pos - step + found + 1
        pos -= step
    return 0


def _corrupt_tail(file: io.FileIO, path: str, start: int, problem: str) -> AuditError:
    file.seek(0)
    newlines = 0
    while file.tell() < start:
        newlines += (file.read(min(_TAIL_CHUNK, start - file.tell())) or b"").count(b"\n")
    return AuditError(
        f"audit log {path!r} line {newlines + 1}: {problem}. Refusing to continue a chain "
        f"whose last record is not intact; run `hostkit audit verify {path}`, then repair "
        "or move the file"
    )
