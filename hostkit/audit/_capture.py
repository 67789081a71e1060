"""Process-wide capture of audit records, for :func:`hostkit.testing.capture_audit`.

Why a registry rather than handing tests an :class:`AuditLog`: the log that
matters in a test is the one a host built for itself, deep inside
``open_host``. Every :meth:`AuditLog.record` that succeeds also appends the
record to each active capture, so a test sees what the host logged without
plumbing a sink through. Like structlog's ``capture_logs()``, a capture sees
every log in the process while it is active.
"""

from __future__ import annotations

import threading
from typing import Any

_MISSING: Any = object()


class AuditCapture(list[dict[str, Any]]):
    """The records captured so far, oldest first, as decoded from their lines.

    A plain list with two helpers for assertions.
    """

    def where(self, **fields: Any) -> list[dict[str, Any]]:
        """The records whose fields equal all of ``fields``, e.g.
        ``capture.where(event="decision", decision="deny")``."""
        return [r for r in self if all(r.get(k, _MISSING) == v for k, v in fields.items())]

    @property
    def events(self) -> list[str]:
        """The ``event`` of every record, in order."""
        return [r["event"] for r in self]


_lock = threading.Lock()
# Replaced, never mutated, so readers need no lock.
_active: tuple[AuditCapture, ...] = ()


def start_capture(capture: AuditCapture) -> None:
    """Route every record written from now on into ``capture`` too."""
    global _active
    with _lock:
        _active = (*_active, capture)


def stop_capture(capture: AuditCapture) -> None:
    """Stop routing records into ``capture``."""
    global _active
    with _lock:
        _active = tuple(c for c in _active if c is not capture)


def active_captures() -> tuple[AuditCapture, ...]:
    """The captures that records are currently routed into."""
    return _active
