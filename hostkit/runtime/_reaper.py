"""Deleting dead actors' Stores off the thread that ended them.

Deleting a wasmtime Store unmaps its memories: 13-40 us per tiny actor
measured on the 2-core test machine (less with the instance pool), most of
it in the kernel (unmapping, and flushing other CPUs' TLBs). An exit asked
for on the Trio thread (``host.kill``, a supervisor stopping its children)
paid that on the Trio thread, once per actor. The reaper takes the Store
instead and deletes it on a thread of its own; wasmtime-py's C calls release
the GIL, so the unmapping runs beside the Trio thread rather than in its way.

What is deferred is only the freeing: the actor is already gone from the
registry, its instance dropped (never entered again) and its guard retired.
What the deferral could make visible, a slot of the instance pool or some
kernel mappings still held for a moment after an exit, is covered by
:meth:`Reaper.flush`: a spawn refused for either reason flushes and tries
once more (see ``Scheduler.instantiate``). The host flushes and stops the
reaper before it closes the engine.

A Store may come with a ``before`` callable, run on the reaper's thread
just before the Store's last reference goes: the arena maps the Store's
fiber stack again there (wasmtime touches it while deleting the Store), one
Store at a time, so killing 100,000 actors at once does not map 100,000
stacks at once (measured: it ran the process out of kernel mappings).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Final

__all__ = ["Reaper"]

log = logging.getLogger("hostkit.runtime")

_STOP: Final = object()


def _delete(item: tuple[Any, Callable[[], None] | None]) -> None:
    store, before = item
    del item
    if before is not None:
        try:
            before()
        except Exception:  # never kill the reaper; the Store still goes
            log.exception("reaper: preparing a Store's deletion failed")
    del before
    del store  # the last reference: wasmtime-py deletes the Store here


class Reaper:
    """One thread that drops the last reference to Stores handed to it."""

    __slots__ = ("_queue", "_thread")

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hostkit-reaper", daemon=True)
        self._thread.start()

    def reap(self, store: Any, before: Callable[[], None] | None = None) -> None:
        """Delete ``store`` soon, on the reaper's thread (inline when the
        reaper is not running: before start and after stop), calling
        ``before()`` first."""
        if self._thread is None:
            _delete((store, before))
            return
        self._queue.put((store, before))

    def flush(self) -> None:
        """Return once every Store handed over before this call is deleted
        (or the reaper has stopped: then it deleted them before it ended)."""
        thread = self._thread
        if thread is None or threading.current_thread() is thread:
            return
        done = threading.Event()
        self._queue.put(done)
        while not done.wait(0.05):
            if not thread.is_alive():  # stopped meanwhile; nothing will set it
                return

    def stop(self) -> None:
        """Delete what is queued, then end the thread (idempotent)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _run(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is _STOP:
                self._drain()
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            _delete(item)
            del item

    def _drain(self) -> None:
        """After the stop: what was queued behind it (a late reap or flush)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, threading.Event):
                item.set()
            else:
                _delete(item)
            del item
