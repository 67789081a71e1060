"""The blocking facade's bridge to the host's Trio thread: the portal
every facade object of one host shares, jobs run on it from any other
thread and waited for there (Ctrl-C cancels the Trio side and waits until
it let go), and the thread's life (open, close, join). The facade objects
are in ``_blocking``; see :mod:`hostkit.blocking` for the why."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from queue import SimpleQueue
from typing import Any

from ._errors import HostClosedError
from ._portal import Job, Portal, Result, start_thread
from .runtime import HostConfig


class _Waiter:
    """One blocked caller: a lock the Trio side releases with the result."""

    __slots__ = ("_lock", "result")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self.result: Result[Any] | None = None

    def deliver(self, result: Result[Any]) -> None:
        self.result = result
        self._lock.release()

    def wait(self) -> Result[Any]:
        self._lock.acquire()  # interruptible by signals (Ctrl-C) on the main thread
        assert self.result is not None
        return self.result


class _Bridge:
    """What every facade object of one host shares: the portal to the host's
    Trio thread, running jobs on it, and the thread's life."""

    def __init__(self) -> None:
        self.portal: Portal | None = None
        self.config: HostConfig | None = None
        self.closed = False
        self._thread: threading.Thread | None = None
        self._events: SimpleQueue[tuple[str, Any]] = SimpleQueue()
        self._close_lock = threading.Lock()
        self._ended = False

    def open(self, open_kwargs: Mapping[str, Any], thread_name: str) -> None:
        """Start the Trio thread and block until the host is open.

        Raises:
            Whatever ``hostkit.open_host`` raised; the thread is joined first.
        """

        def ready(portal: Portal) -> None:  # on the Trio thread
            self.config = portal.host.config
            self._events.put(("ready", portal))

        self._thread = start_thread(
            open_kwargs,
            on_ready=ready,
            on_done=lambda result: self._events.put(("done", result)),
            name=thread_name,
        )
        try:
            kind, value = self._events.get()
        except BaseException:  # Ctrl-C while opening: let it open, then close
            kind, value = _next_event(self._events)
            if kind == "ready":
                self.portal = value
                self.close()
            else:
                self.closed = self._ended = True
                self._join()
            raise
        if kind == "done":
            self.closed = self._ended = True
            self._join()
            value.unwrap()
            raise HostClosedError("the host's Trio thread ended while opening")
        self.portal = value

    def close(self) -> None:
        """Close the host and join its Trio thread. Idempotent, thread-safe;
        the first call raises what closing raised. A Ctrl-C while closing is
        deferred until the thread is joined, then raised."""
        portal = self.portal
        if portal is not None and threading.get_ident() == portal.thread_id:
            raise RuntimeError(
                "cannot close a hostkit.blocking host from its own Trio thread "
                "(it would wait for itself); close it from the thread that opened it"
            )
        with self._close_lock:
            self.closed = True
            if self._ended:
                return
            if portal is not None:
                portal.request_close()
            result = _next_done(self._events)
            self._ended = True
            self._join()
        result.unwrap()

    def _join(self) -> None:
        assert self._thread is not None
        interrupted: BaseException | None = None
        while self._thread.is_alive():
            try:
                self._thread.join()
            except KeyboardInterrupt as exc:
                interrupted = exc
        if interrupted is not None:
            raise interrupted

    def check(self, what: str) -> Portal:
        portal = self.portal
        if self.closed or portal is None:
            raise HostClosedError(
                f"cannot use {what}: this hostkit.blocking host is closed; "
                "open a new one with hostkit.blocking.open_host()"
            )
        if threading.get_ident() == portal.thread_id:
            raise RuntimeError(
                f"cannot use {what} from the host's own Trio thread: hostkit.blocking methods "
                "block and would deadlock it; there, use the Trio host (hostkit.Host) instead"
            )
        return portal

    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        what: str,
        timeout: float | None = None,
        is_async: bool = True,
    ) -> Any:
        portal = self.check(what)
        waiter = _Waiter()
        job = Job(fn, args, waiter.deliver, what=what, timeout=timeout, is_async=is_async)
        portal.submit(job)
        try:
            result = waiter.wait()
        except BaseException:
            # Ctrl-C (or another asynchronous exception) while blocked: cancel
            # the Trio side and wait until it let go, so nothing is left
            # pending. A second Ctrl-C stops this wait.
            portal.cancel(job)
            if waiter.result is None:  # not delivered yet (else the lock is ours)
                waiter.wait()
            raise
        return result.unwrap()

    def sync(self, fn: Callable[..., Any], *args: Any, what: str) -> Any:
        return self.run(fn, *args, what=what, is_async=False)


def _next_event(events: SimpleQueue[tuple[str, Any]]) -> tuple[str, Any]:
    """The next event; a Ctrl-C meanwhile is deferred until it came."""
    interrupted: BaseException | None = None
    while True:
        try:
            event = events.get()
        except KeyboardInterrupt as exc:
            interrupted = exc
            continue
        if interrupted is not None:
            raise interrupted
        return event


def _next_done(events: SimpleQueue[tuple[str, Any]]) -> Result[Any]:
    """The final ``done`` result, skipping earlier events; Ctrl-C is deferred."""
    while True:
        kind, value = _next_event(events)
        if kind == "done":
            return value  # type: ignore[no-any-return]
