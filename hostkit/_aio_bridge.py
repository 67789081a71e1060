"""The asyncio facade's bridge to the host's Trio run: the portal every
facade object of one host shares, jobs run on it from the asyncio loop and
awaited there (cancellable both ways), and the run's life (open, close).
The facade objects are in ``_aio``; see :mod:`hostkit.aio` for the why."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ._errors import HostClosedError
from ._portal import Job, Portal, Result, WakeOnce, start_guest, start_thread
from .runtime import HostConfig

Mode = Literal["thread", "guest"]


def _settle(fut: asyncio.Future[Result[Any]], result: Result[Any]) -> None:
    if not fut.done():
        fut.set_result(result)


class _Pending:
    """One awaited job. Not shielded (one loop turn less per call): if the
    awaiting task is cancelled, ``fut`` is cancelled with it, and ``released``
    then tells when the Trio side has let go."""

    __slots__ = ("delivered", "fut", "released")

    def __init__(self, fut: asyncio.Future[Result[Any]]) -> None:
        self.fut = fut
        self.released: asyncio.Future[None] | None = None
        self.delivered = False

    def settle(self, result: Result[Any]) -> None:  # on the loop's thread
        self.delivered = True
        if not self.fut.done():
            self.fut.set_result(result)
        if self.released is not None and not self.released.done():
            self.released.set_result(None)


async def _until_done(fut: asyncio.Future[Any]) -> None:
    """Wait for ``fut``, holding back cancellations until it is done; then
    raise the first one held back."""
    cancelled: BaseException | None = None
    while not fut.done():
        try:
            await asyncio.wait([fut])
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        raise cancelled


class _Bridge:
    """What every facade object of one host shares: the portal to the host's
    Trio run, running jobs on it from the asyncio loop, and the run's life."""

    def __init__(self, loop: asyncio.AbstractEventLoop, mode: Mode) -> None:
        self.loop = loop
        self.mode = mode
        self.portal: Portal | None = None
        self.config: HostConfig | None = None
        self.closed = False
        self._thread: threading.Thread | None = None
        self._done: asyncio.Future[Result[Any]] = loop.create_future()
        self._closing: asyncio.Future[Result[Any]] | None = None
        # Results from the Trio thread, one loop wake-up per batch.
        self._outbox: WakeOnce[tuple[Callable[[Result[Any]], None], Result[Any]]] = WakeOnce(
            loop.call_soon_threadsafe, lambda item: item[0](item[1])
        )

    def settler(self, fut: asyncio.Future[Result[Any]]) -> Callable[[Result[Any]], None]:
        """A ``deliver`` for jobs: settles ``fut`` on the loop's thread."""
        return self.on_loop(lambda result: _settle(fut, result))

    def on_loop(self, fn: Callable[[Result[Any]], None]) -> Callable[[Result[Any]], None]:
        """A ``deliver`` for jobs: calls ``fn(result)`` on the loop's thread."""
        if self.mode == "guest":  # the Trio side already runs on the loop's thread
            return fn
        outbox = self._outbox

        def post(result: Result[Any]) -> None:
            # False when the loop is closed: then nobody waits any more.
            outbox.put((fn, result))

        return post

    async def open(self, open_kwargs: Mapping[str, Any], thread_name: str) -> None:
        ready: asyncio.Future[Result[Any]] = self.loop.create_future()
        on_ready = self.settler(ready)

        def ready_cb(portal: Portal) -> None:  # on the Trio side
            self.config = portal.host.config
            on_ready(Result(portal))

        on_done = self.settler(self._done)
        if self.mode == "guest":
            start_guest(open_kwargs, loop=self.loop, on_ready=ready_cb, on_done=on_done)
        else:
            self._thread = start_thread(
                open_kwargs, on_ready=ready_cb, on_done=on_done, name=thread_name
            )
        first = asyncio.ensure_future(
            asyncio.wait([ready, self._done], return_when="FIRST_COMPLETED")
        )
        try:
            await asyncio.shield(first)
        except asyncio.CancelledError:  # let it open, then close it
            await _until_done(first)
            if ready.done():
                self.portal = ready.result().value
                await self.close()
            else:  # it failed to open: nothing to close
                self.closed = True
                self._join()
            raise
        if ready.done():
            self.portal = ready.result().value
            return
        self.closed = True
        self._join()
        self._done.result().unwrap()
        raise HostClosedError("the host's Trio run ended while opening")

    def check(self, what: str) -> Portal:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self.loop:
            raise RuntimeError(
                f"cannot use {what} here: a hostkit.aio host must be awaited on the asyncio "
                "loop that opened it; from other threads use hostkit.blocking, under Trio "
                "the Trio host (hostkit.open_host)"
            )
        portal = self.portal
        if self.closed or portal is None:
            raise HostClosedError(
                f"cannot use {what}: this hostkit.aio host is closed; "
                "open a new one with hostkit.aio.open_host()"
            )
        return portal

    async def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        what: str,
        is_async: bool = True,
    ) -> Any:
        portal = self.check(what)
        pending = _Pending(self.loop.create_future())
        job = Job(fn, args, self.on_loop(pending.settle), what=what, is_async=is_async)
        portal.submit(job)
        try:
            result = await pending.fut
        except asyncio.CancelledError:
            # task.cancel() or asyncio.timeout(): cancel the Trio side too and
            # wait until it let go, so nothing is left pending there.
            portal.cancel(job)
            if not pending.delivered:
                pending.released = self.loop.create_future()
                await _until_done(pending.released)
            raise
        return result.unwrap()

    async def sync(self, fn: Callable[..., Any], *args: Any, what: str) -> Any:
        return await self.run(fn, *args, what=what, is_async=False)

    async def close(self) -> None:
        self.closed = True
        if self._closing is None:
            self._closing = self._done
            if self.portal is not None:
                self.portal.request_close()
            await _until_done(self._done)
            self._join()
            self._done.result().unwrap()
        else:
            await _until_done(self._done)

    def _join(self) -> None:
        # The thread's last act was to post its outcome: this returns at once.
        if self._thread is not None:
            self._thread.join()
