"""What host code holds and passes besides the `Host`: a `Monitor`, the
protocols ``open_host`` takes (`CapabilityLayer`, an audit recorder), and
the error for using the Trio host from the wrong place."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import trio

from .._errors import WrongThreadError
from .._pid import ExitReason, Pid

if TYPE_CHECKING:
    from ._host import Host


class CapabilityLayer(Protocol):
    """What :func:`open_host` needs from ``capabilities=`` (the capability
    gate, :class:`hostkit.capabilities.Gate`): an import resolver, and a way
    to hook itself into the host it serves (scheduler checks, audit of
    lifecycle events)."""

    def resolve(self, interface: str, function: str, func_type: Any) -> Callable[..., Any] | None:
        """An :data:`ImportResolver`."""
        ...

    def attach(self, host: Host) -> None:
        """Called once the host is built, before any component loads."""
        ...

    def record(self, event: str, /, **fields: Any) -> Any:
        """Write one audit record (raises ``AuditError`` if it cannot)."""
        ...

    def flush_denials(self) -> None:
        """Write what is pending of rate-limited denial records (called when
        the host closes; raises ``AuditError`` if it cannot)."""
        ...


class Recorder(Protocol):
    """Anything with ``record(event, **fields)``: an `AuditLog`, the gate."""

    def record(self, event: str, /, **fields: Any) -> Any: ...


class Monitor:
    """A host-side monitor of one actor: exactly one DOWN, with the reason.

    Get one from :meth:`Host.monitor`. Monitoring a dead or unknown pid
    yields DOWN ``noproc`` at once (``noconnection`` for a pid of a node
    this host cannot reach).
    """

    __slots__ = ("_done", "_host", "_reason", "pid", "ref")

    def __init__(self, host: Host, pid: Pid) -> None:
        self._host = host
        self.pid = pid
        self._done = trio.Event()
        self._reason: ExitReason | None = None
        self.ref = 0

    def _fire(self, reason: ExitReason) -> None:
        if self._reason is None:
            self._reason = reason
            self._done.set()

    @property
    def down(self) -> ExitReason | None:
        """The DOWN reason once it arrived, else None."""
        return self._reason

    async def wait(self) -> ExitReason:
        """Wait for the DOWN and return the monitored actor's exit reason."""
        await self._done.wait()
        assert self._reason is not None
        return self._reason

    def cancel(self) -> bool:
        """Demonitor. Returns whether the monitor was still active; a DOWN
        that already arrived stays readable (``flush`` is implied for the host:
        nothing is queued anywhere)."""
        return self._host._sched.links.host_demonitor(self.pid, self.ref)


def thread_error(api: str) -> WrongThreadError:
    try:
        import sniffio

        library = sniffio.current_async_library()
    except Exception:
        library = None
    if library == "asyncio":
        return WrongThreadError(
            f"Host.{api} was called from asyncio; this Host belongs to a Trio run. "
            "From asyncio use hostkit.aio.open_host(...)"
        )
    return WrongThreadError(
        f"Host.{api} was called from a thread that is not the host's Trio thread. "
        "From other threads use hostkit.blocking.open_host(...), or "
        "trio.from_thread.run(...) with this host's Trio token"
    )


class TrioInbox:
    """Callbacks from scheduler threads, run on the Trio thread: one
    ``run_sync_soon`` wakes Trio for a whole batch of them."""

    __slots__ = ("_inbox", "_token", "_wake_pending", "tls")

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token
        self._inbox: deque[Callable[[], None]] = deque()
        self._wake_pending = False
        self.tls = threading.local()  # a scheduler thread's ``deferred`` list

    def post(self, fn: Callable[[], None]) -> None:
        deferred: list[Callable[[], None]] | None = getattr(self.tls, "deferred", None)
        if deferred is not None:
            # On a scheduler thread: wake Trio once, after the activation is
            # done, rather than mid-activation (which makes the two threads
            # ping-pong the GIL for the rest of it).
            deferred.append(fn)
            return
        self.wake(fn)

    def flush(self, deferred: list[Callable[[], None]]) -> None:
        """Called by a scheduler thread after each activation."""
        if deferred:
            self._inbox.extend(deferred[:-1])
            last = deferred[-1]
            deferred.clear()
            self.wake(last)

    def wake(self, fn: Callable[[], None]) -> None:
        self._inbox.append(fn)
        if not self._wake_pending:
            self._wake_pending = True
            try:
                self._token.run_sync_soon(self.drain)
            except trio.RunFinishedError:
                self._wake_pending = False

    def drain(self) -> None:
        self._wake_pending = False
        inbox = self._inbox
        while inbox:
            inbox.popleft()()


class ReplySlot:
    """Where a host call's task waits for its reply: rescheduled once by
    :meth:`wake` (posted to the Trio thread when the reply arrives), unless
    it was cancelled first (:meth:`abort`, a timeout or a cancel scope)."""

    __slots__ = ("task", "waiting")

    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task = task
        self.waiting = True

    def wake(self) -> None:
        if self.waiting:
            self.waiting = False
            trio.lowlevel.reschedule(self.task)

    def abort(self, _raise_cancel: Any) -> trio.lowlevel.Abort:
        self.waiting = False
        return trio.lowlevel.Abort.SUCCEEDED
