"""Helpers for testing code that runs on hostkit.

Importable without wasmtime: nothing here loads components.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .audit._capture import AuditCapture, start_capture, stop_capture
from .federation._memory import MemoryNetwork as MemoryNetwork
from .federation._memory import Wire as Wire
from .federation._memory import memory_channel_pair as memory_channel_pair

__all__ = ["AuditCapture", "MemoryNetwork", "Wire", "capture_audit", "memory_channel_pair"]


@contextmanager
def capture_audit() -> Iterator[AuditCapture]:
    """Capture every audit record written in this process while active.

    Like structlog's ``capture_logs()``: yields a list that fills with the
    records (dicts, decoded from the lines the sinks got) of every
    :class:`~hostkit.audit.AuditLog` -- including the one a host builds for
    itself -- so a test needs no access to the host's log::

        with capture_audit() as records:
            ...  # run actors
        assert records.where(event="decision", decision="deny")

    Only records that were written to every sink are captured; a record
    whose sink failed is not. Captures nest; each sees every record.
    """
    capture = AuditCapture()
    start_capture(capture)
    try:
        yield capture
    finally:
        stop_capture(capture)
