"""Where a guest's WASI stdout and stderr go: the host log, bounded and inert.

Theory of operation. WASI hands the host each chunk a guest writes to
stdout or stderr, at any size and any rate. A guest is untrusted, so what it
prints is treated like any other capability: bounded, and unable to
pass for anything but itself.

- Lines are cut at ``max_line`` bytes *before* anything is kept: a partial
  line waiting for its newline holds at most ``max_line`` bytes, and the rest
  of an over-long line is counted and dropped, never decoded or joined.
- Each actor has two token buckets, lines per second and bytes per second
  (with bursts). A line that finds either empty is dropped and counted.
- Dropping is reported, never silent: a summary line (``... dropped N lines,
  M bytes ...``) is logged at most once per ``summary_interval`` (when the
  next line arrives, kept or not), and when the sink is closed or collected
  (the actor's store goes away), so the counts always add up.
- Every line is escaped with `hostkit._text.inert` (control characters,
  ANSI escapes, bidi controls, line separators become visible escapes), so a
  guest cannot start a new log line, clear a terminal or reorder text.
- The tag cannot be imitated. Each line is logged as ``[guest <pid> <name>
  stdout|stderr] | <text>``; the text is escaped, so it contains no newline
  and can never begin a line of the log. Structured fields travel on the
  log record too (``extra``: ``guest_pid``, ``guest_component``,
  ``guest_stream``) for handlers that format records themselves.
  (A handler that prints only ``%(message)s`` still shows the ``|``: guest
  text is always what follows the first ``] | `` of a line; the host's own
  drop summaries use ``] ! `` instead, which guest text cannot produce
  before its ``] | ``.)

Theories of what else could be done (a per-host byte budget, an audit record
per drop) were left out: the per-actor limits already bound the host's work
per actor, and the summary keeps the log complete in count.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Final

from .._text import inert

__all__ = [
    "DEFAULT_BURST_BYTES",
    "DEFAULT_BURST_LINES",
    "DEFAULT_BYTES_PER_SECOND",
    "DEFAULT_LINES_PER_SECOND",
    "DEFAULT_MAX_LINE",
    "GuestStdio",
]

DEFAULT_MAX_LINE: Final = 4096
"""Longest line kept, in bytes; the rest of a longer line is dropped."""
DEFAULT_LINES_PER_SECOND: Final = 100.0
"""Lines per second an actor may log on average."""
DEFAULT_BURST_LINES: Final = 500.0
"""Lines an actor may log at once after a quiet period."""
DEFAULT_BYTES_PER_SECOND: Final = 64 * 1024.0
"""Bytes per second an actor may log on average."""
DEFAULT_BURST_BYTES: Final = 256 * 1024.0
"""Bytes an actor may log at once after a quiet period."""


class _Counts:
    """What a sink dropped and not yet reported (shared with its finalizer)."""

    __slots__ = ("bytes", "lines", "lock", "truncated")

    def __init__(self) -> None:
        self.lines = 0
        self.bytes = 0
        self.truncated = 0
        self.lock = threading.Lock()

    def take(self) -> tuple[int, int, int]:
        with self.lock:
            taken = (self.lines, self.bytes, self.truncated)
            self.lines = self.bytes = self.truncated = 0
        return taken


def _report(logger: logging.Logger, tag: str, extra: dict[str, object], counts: _Counts) -> bool:
    lines, size, truncated = counts.take()
    if not (lines or size or truncated):
        return False
    logger.warning(
        "[%s] ! hostkit dropped %d lines (%d bytes) over the guest's output limits"
        " and cut %d over-long lines",
        tag,
        lines,
        size,
        truncated,
        extra=extra,
    )
    return True


class GuestStdio:
    """A per-actor, per-stream WASI output sink. Thread-safe.

    Args:
        pid: The actor's pid as text (part of the tag).
        component: The component's name (part of the tag; escaped).
        stream: Names the stream in the tag: ``"stdio"`` (the default: the
            host gives one sink both streams), ``"stdout"`` or ``"stderr"``.
        logger: Where lines go (``hostkit.guest`` by default), at INFO
            (WARNING for ``"stderr"``); summaries at WARNING.
        max_line: Longest line kept, in bytes.
        lines_per_second, burst_lines: The line bucket.
        bytes_per_second, burst_bytes: The byte bucket.
        summary_interval: Least seconds between two summaries while dropping.
        clock: Monotonic seconds; inject a fake one in tests.
    """

    def __init__(
        self,
        pid: str,
        component: str,
        stream: str = "stdio",
        *,
        logger: logging.Logger | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        lines_per_second: float = DEFAULT_LINES_PER_SECOND,
        burst_lines: float = DEFAULT_BURST_LINES,
        bytes_per_second: float = DEFAULT_BYTES_PER_SECOND,
        burst_bytes: float = DEFAULT_BURST_BYTES,
        summary_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_line < 1:
            raise ValueError(f"max_line must be >= 1, got {max_line}")
        self.tag = f"guest {inert(pid)} {inert(component)} {stream}"
        self._logger = logger or logging.getLogger("hostkit.guest")
        self._level = logging.WARNING if stream == "stderr" else logging.INFO
        self._extra: dict[str, object] = {
            "guest_pid": pid,
            "guest_component": component,
            "guest_stream": stream,
        }
        self._max_line = max_line
        self._line_rate, self._line_burst = lines_per_second, burst_lines
        self._byte_rate, self._byte_burst = bytes_per_second, burst_bytes
        self._summary_interval = summary_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._partial = bytearray()  # never longer than max_line
        self._cut = False  # the partial line was cut; drop until its newline
        self._line_tokens = burst_lines
        self._byte_tokens = burst_bytes
        self._last = clock()
        self._last_summary = -float("inf")
        self.dropped = _Counts()
        self.total_dropped_lines = 0
        self.total_dropped_bytes = 0
        weakref.finalize(self, _report, self._logger, self.tag, self._extra, self.dropped)

    def __call__(self, data: bytes) -> None:
        """Take one chunk the guest wrote. Never raises (wasmtime calls it)."""
        try:
            self._write(data)
        except Exception:  # never let an exception reach wasmtime
            logging.getLogger("hostkit.host").exception("guest output sink failed")

    def close(self) -> None:
        """Log the last partial line and any pending drop summary."""
        with self._lock:
            if self._partial:
                self._emit(bytes(self._partial))
                self._partial.clear()
            self._cut = False
        _report(self._logger, self.tag, self._extra, self.dropped)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        with self._lock:
            start = 0
            end = len(view)
            while start < end:
                newline = data.find(b"\n", start)
                stop = end if newline < 0 else newline
                room = self._max_line - len(self._partial)
                piece = stop - start
                if self._cut:
                    self._drop_bytes(piece)
                elif piece > room:
                    self._partial += view[start : start + room]
                    self._drop_bytes(piece - room)
                    self._cut = True
                    self.dropped.truncated += 1
                else:
                    self._partial += view[start:stop]
                if newline < 0:
                    break
                self._emit(bytes(self._partial))
                self._partial.clear()
                self._cut = False
                start = newline + 1

    def _drop_bytes(self, size: int) -> None:
        with self.dropped.lock:
            self.dropped.bytes += size
        self.total_dropped_bytes += size

    def _summarize(self, now: float) -> None:
        if now - self._last_summary >= self._summary_interval and _report(
            self._logger, self.tag, self._extra, self.dropped
        ):
            self._last_summary = now

    def _emit(self, line: bytes) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._line_tokens = min(self._line_burst, self._line_tokens + elapsed * self._line_rate)
        self._byte_tokens = min(self._byte_burst, self._byte_tokens + elapsed * self._byte_rate)
        size = len(line) + 1
        if self._line_tokens < 1 or self._byte_tokens < size:
            with self.dropped.lock:
                self.dropped.lines += 1
                self.dropped.bytes += size
            self.total_dropped_lines += 1
            self.total_dropped_bytes += size
            self._summarize(now)
            return
        self._line_tokens -= 1
        self._byte_tokens -= size
        self._summarize(now)
        text = inert(line.decode("utf-8", errors="replace"), None)
        self._logger.log(self._level, "[%s] | %s", self.tag, text, extra=self._extra)
