"""The bridge under both embedding facades: one Trio run that owns one
:class:`~hostkit.Host`, and *jobs* handed to it from other threads or from an
asyncio loop. Built on the public ``hostkit`` API only.

Theory of operation
===================

:func:`serve` is the Trio run's main function. It opens the host with
:func:`hostkit.open_host` and a nursery for jobs, hands a :class:`Portal` to
``on_ready`` and waits for :meth:`Portal.request_close`.

Who runs that Trio run is the facade's choice: :func:`start_thread` gives it a
thread of its own (``trio.run``); :func:`start_guest` runs it as a Trio *guest*
on an asyncio loop (``trio.lowlevel.start_guest_run``). Either way every
``Host`` method runs on the host's own Trio run, inside a Trio task, never on
the caller's thread: the Trio ``Host`` is not thread-safe and refuses foreign
threads.

A :class:`Job` is one operation: an async (or plain) function of the host, a
``deliver`` callback that receives its :class:`Result` exactly once, and an
optional relative deadline. :meth:`Portal.submit` is thread-safe: it posts the
job with ``TrioToken.run_sync_soon``. On the Trio side a plain function
(``send``, ``whereis``, ...) runs right in that callback, which Trio runs in
a system task on its own thread; an async one gets a task of its own in the
jobs nursery, inside the job's own cancel scope. So a job can be
cancelled from outside (:meth:`Portal.cancel`: the caller gave up, e.g. Ctrl-C
or an asyncio cancellation) and the Trio side lets go of it as a Trio
cancellation would: ``Host.call`` frees its reply slot, ``Host.spawn`` kills
the half-started actor. ``deliver`` then still runs, so the caller can wait
until the Trio side has let go and nothing is left behind.

Closing: :meth:`Portal.request_close` stops taking jobs, closes the host while
jobs still run (so pending calls end as the actors stop, new ones get
:class:`~hostkit.HostClosedError` from the host), then cancels what is left;
each cancelled job is delivered ``HostClosedError``. ``serve`` returns, and
the run ends: the thread exits, or the guest run's ``done_callback`` fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import trio

from ._errors import HostClosedError
from .runtime import ExitReason, Host, Monitor, Pid, open_host

T = TypeVar("T")


class Result(Generic[T]):
    """The outcome of a job or of the whole run: a value or an exception."""

    __slots__ = ("error", "value")

    def __init__(self, value: T | None = None, error: BaseException | None = None) -> None:
        self.value = value
        self.error = error

    def unwrap(self) -> T:
        """Return the value or raise the exception (unchanged, with its traceback)."""
        if self.error is not None:
            error, self.error = self.error, None  # break the frame -> error cycle
            try:
                raise error
            finally:
                del error
        return self.value  # type: ignore[return-value]


def note_failure(exc: BaseException, result: Result[Any]) -> None:
    """A block raised ``exc`` and the thing it held (a supervisor) ended with
    ``result``: keep ``exc``, and note a failure of the held thing on it."""
    error = result.error
    if error is not None and not isinstance(error, HostClosedError):
        exc.add_note(f"meanwhile: {type(error).__name__}: {error}")


def closed_error(what: str) -> HostClosedError:
    return HostClosedError(f"the host closed while {what} was pending; open a new one")


class Job:
    """One operation for the host's Trio run. Build it anywhere; submit it
    with :meth:`Portal.submit`.

    Args:
        fn: ``fn(*args)``, awaited when ``is_async``; run on the Trio side.
        args: its arguments.
        deliver: gets the :class:`Result` exactly once, on the Trio run's
            thread (or, if the run is gone, on :meth:`Portal.submit`'s thread).
        what: names the operation in errors, e.g. ``"host.wait(<3>)"``.
        timeout: seconds from when the Trio side starts it; then the job is
            cancelled and ``deliver`` gets a :class:`TimeoutError`.
    """

    __slots__ = (
        "args",
        "cancel_requested",
        "deliver",
        "fn",
        "is_async",
        "scope",
        "timeout",
        "what",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        deliver: Callable[[Result[Any]], None],
        *,
        what: str,
        timeout: float | None = None,
        is_async: bool = True,
    ) -> None:
        if timeout is not None and (not isinstance(timeout, int | float) or timeout < 0):
            raise ValueError(
                f"timeout must be a non-negative number of seconds or None, got {timeout!r}"
            )
        self.fn = fn
        self.args = args
        self.deliver = deliver
        self.what = what
        self.timeout = timeout
        self.is_async = is_async
        self.cancel_requested = False
        self.scope = trio.CancelScope(
            relative_deadline=timeout if timeout is not None else float("inf")
        )


class WakeOnce(Generic[T]):
    """Items handed to another thread (or loop) with one wake-up per batch.

    ``put`` appends and, unless a drain is already scheduled, schedules one
    with ``schedule`` (``TrioToken.run_sync_soon``,
    ``loop.call_soon_threadsafe``). The drain clears the flag *before*
    taking items, so an item put while it runs is either taken by it or
    schedules the next drain: nothing is stranded. Under load many items
    share one wake-up, the same trick the host uses for scheduler threads.
    """

    def __init__(
        self, schedule: Callable[[Callable[[], None]], object], handle: Callable[[T], None]
    ) -> None:
        self._schedule = schedule
        self._handle = handle
        self._items: deque[T] = deque()
        self._pending = False

    def put(self, item: T) -> bool:
        """Hand over ``item``. Thread-safe. False if the other side is gone
        (then take back what is left with :meth:`take_all`)."""
        self._items.append(item)
        if not self._pending:
            self._pending = True
            try:
                self._schedule(self._drain)
            except (trio.RunFinishedError, RuntimeError):
                self._pending = False
                return False
        return True

    def take_all(self) -> list[T]:
        taken = []
        with contextlib.suppress(IndexError):
            while True:
                taken.append(self._items.popleft())
        return taken

    def _drain(self) -> None:
        self._pending = False
        items, handle = self._items, self._handle
        while items:
            handle(items.popleft())


class Portal:
    """The Trio side of one embedded host. Made by :func:`serve`."""

    def __init__(self, host: Host, nursery: trio.Nursery, stop: trio.Event) -> None:
        self.host = host
        self.token = trio.lowlevel.current_trio_token()
        self.thread_id = threading.get_ident()
        self._nursery = nursery
        self._stop = stop
        self._accepting = True  # read and written on the Trio side only
        self.running = 0  # jobs started and not yet delivered (Trio side)
        self._inbox: WakeOnce[Job] = WakeOnce(self.token.run_sync_soon, self._start)

    # -- from any thread ---------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Start ``job`` on the Trio side. Thread-safe, never blocks. If the
        host's Trio run has ended, ``job`` is delivered ``HostClosedError``
        at once, from this thread."""
        if not self._inbox.put(job):
            for stranded in self._inbox.take_all():
                stranded.deliver(Result(error=closed_error(stranded.what)))

    def cancel(self, job: Job) -> None:
        """Ask the Trio side to cancel ``job`` (its ``deliver`` still runs).
        Thread-safe; a no-op for a finished job or an ended run."""
        job.cancel_requested = True
        self.run_soon(job.scope.cancel)

    def run_soon(self, fn: Callable[..., object], *args: object) -> None:
        """Run the sync ``fn(*args)`` on the Trio side soon; dropped if the run ended."""
        with contextlib.suppress(trio.RunFinishedError):
            self.token.run_sync_soon(fn, *args)

    def request_close(self) -> None:
        """Begin closing (see the module docstring). Thread-safe, idempotent."""
        self.run_soon(self._stop.set)

    # -- the Trio side -------------------------------------------------------------------
    def _start(self, job: Job) -> None:
        if not self._accepting:
            job.deliver(Result(error=closed_error(job.what)))
            return
        if not job.is_async:
            # Trio runs run_sync_soon callbacks in a system task on its own
            # thread, so a plain Host method can run right here: no task to
            # spawn, nothing to cancel.
            try:
                result: Result[Any] = Result(job.fn(*job.args))
            except Exception as exc:
                result = Result(error=exc)
            job.deliver(result)
            return
        self.running += 1
        self._nursery.start_soon(self._run, job)

    async def _run(self, job: Job) -> None:
        result: Result[Any] | None = None
        try:
            with job.scope:
                if job.is_async:
                    result = Result(await job.fn(*job.args))
                else:
                    result = Result(job.fn(*job.args))
            if result is None:  # our own scope caught the cancellation
                result = Result(error=_cancel_error(job))
        except trio.Cancelled:  # the jobs nursery: the host is closing
            result = Result(error=closed_error(job.what))
            raise
        except Exception as exc:
            result = Result(error=exc)
        finally:
            if result is None:  # a BaseException other than Cancelled
                result = Result(error=closed_error(job.what))
            self.running -= 1
            job.deliver(result)


def _cancel_error(job: Job) -> BaseException:
    if job.cancel_requested:
        # Nobody reads it: the caller gave up and raises its own exception.
        return closed_error(job.what)
    return TimeoutError(f"{job.what} did not finish within {job.timeout} s")


async def serve(
    open_kwargs: Mapping[str, Any],
    on_ready: Callable[[Portal], None],
) -> None:
    """The main function of an embedded host's Trio run (see the module docstring)."""
    stop = trio.Event()
    async with open_host(**open_kwargs) as host, trio.open_nursery() as nursery:
        portal = Portal(host, nursery, stop)
        on_ready(portal)
        await stop.wait()
        portal._accepting = False
        await host.aclose()  # pending calls end as their actors stop
        nursery.cancel_scope.cancel()  # what is left: waits, monitors, supervisors


def start_thread(
    open_kwargs: Mapping[str, Any],
    *,
    on_ready: Callable[[Portal], None],
    on_done: Callable[[Result[None]], None],
    name: str = "hostkit-trio",
) -> threading.Thread:
    """Run :func:`serve` with ``trio.run`` in a new thread, which it returns.

    ``on_ready`` is called on that thread once the host is open; ``on_done``
    is called on it last, with how the run ended (an error from opening or
    closing the host, or None). The thread is a daemon so that a forgotten
    host cannot hang interpreter exit; the facades join it on close.
    """

    def main() -> None:
        try:
            trio.run(serve, open_kwargs, on_ready)
        except BaseException as exc:
            on_done(Result(error=exc))
        else:
            on_done(Result(None))

    thread = threading.Thread(target=main, name=name, daemon=True)
    thread.start()
    return thread


def start_guest(
    open_kwargs: Mapping[str, Any],
    *,
    loop: asyncio.AbstractEventLoop,
    on_ready: Callable[[Portal], None],
    on_done: Callable[[Result[None]], None],
) -> None:
    """Run :func:`serve` as a Trio guest on the running asyncio ``loop``.

    Both callbacks are called on the loop's thread. asyncio owns the signal
    wakeup fd, so Trio installs no SIGINT handling of its own.
    """

    def done(outcome: Any) -> None:
        try:
            outcome.unwrap()
        except BaseException as exc:
            on_done(Result(error=exc))
        else:
            on_done(Result(None))

    trio.lowlevel.start_guest_run(
        serve,
        open_kwargs,
        on_ready,
        run_sync_soon_threadsafe=loop.call_soon_threadsafe,
        run_sync_soon_not_threadsafe=loop.call_soon,
        done_callback=done,
        host_uses_signal_set_wakeup_fd=True,
    )


# -- Trio-side operations the facades share ------------------------------------------


async def call(host: Host, pid: Pid | int, msg: str, reply_within: float) -> str:
    return await host.call(pid, msg, timeout=reply_within)


async def watch_monitor(
    host: Host, pid: Pid | int, placed: Callable[[Monitor], None]
) -> ExitReason:
    mon = host.monitor(pid)
    placed(mon)
    return await mon.wait()


async def hold(make: Callable[[], Any], entered: Callable[[Any], None], leave: trio.Event) -> None:
    """Keep the async context manager ``make()`` open in one Trio task until ``leave``.

    Built and entered on the Trio side: ``open_supervisor`` checks the specs
    against the host, and its nursery must be entered and left by one task.
    """
    async with make() as value:
        entered(value)
        await leave.wait()
