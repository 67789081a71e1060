"""What suspended guest calls wait on, for the scheduler: the heap of
due times, the Trio tasks that run host functions' awaitables, and the
blocking wait of calls that cannot yield (instantiation, whose start
functions run to the end; ``deliver``, ``init`` and ``terminate`` suspend).

A SUSPENDED actor (see ``_actors``) waits on a `Pending` (``_wasm``): its
resolution wakes the actor through ``Scheduler.wake``; so does its ``due``
time (a ``process.call`` timeout, or the activation deadline), kept here in
a heap that every scheduler thread looks at between activations. An
awaitable runs as a Trio *system* task, cancelled (from any thread, through
the Trio inbox) when its guest call is dropped: killed, past its deadline,
or the host closing.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import trio

from ._actors import QUEUED, RUNNING, SUSPENDED, Actor
from ._wasm import Instance, Pending
from ._wasm._guard import close_awaitable

if TYPE_CHECKING:
    from ._scheduler import Scheduler

__all__ = ["Suspensions"]

_TRIO_THREADS: Final = (os.path.join("trio", "_threads.py"),)
_BLOCK_POLL: Final = 0.02  # a blocked thread re-checks kill and deadline this often


class Suspensions:
    """Due times, Trio tasks and blocking waits of suspended guest calls."""

    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched
        self.actors = sched.actors
        # (due, seq, pending, actor): when to wake a SUSPENDED actor regardless
        self.sleepers: list[tuple[float, int, Pending, Actor]] = []
        self._lock = threading.Lock()
        self._seq = itertools.count()

    def sleep(self, actor: Actor, pending: Pending) -> None:
        """Wake ``actor`` at ``pending.due`` if nothing resolved it first."""
        with self._lock:
            heapq.heappush(self.sleepers, (pending.due, next(self._seq), pending, actor))

    def wake_due(self) -> None:
        """Wake SUSPENDED actors whose due time came (a timeout, a deadline)."""
        now = time.monotonic()
        while True:
            with self._lock:
                if not self.sleepers or self.sleepers[0][0] > now:
                    return
                _, _, pending, actor = heapq.heappop(self.sleepers)
            if pending.done:
                continue
            with actor.lock:
                inst = actor.instance
                if actor.state == SUSPENDED and inst is not None and inst.guard.pending is pending:
                    actor.state = QUEUED
                    self.sched._promote(actor)

    # -- async host functions: their awaitables run as Trio tasks ---------------
    def launch(self, pending: Pending, post: Callable[[Callable[[], None]], None]) -> None:
        """Run ``pending.awaitable`` as a task on the host's Trio loop;
        ``pending.cancel`` cancels it (from any thread)."""
        scopes: list[trio.CancelScope] = []

        def cancel_on_trio() -> None:
            for scope in scopes:
                scope.cancel()

        def start() -> None:  # on the Trio thread
            aw, pending.awaitable = pending.awaitable, None
            if pending.done:  # dropped before it started: none of it runs
                close_awaitable(aw)
                return
            scope = trio.CancelScope()
            scopes.append(scope)
            trio.lowlevel.spawn_system_task(
                _await_pending, pending, aw, scope, name=f"hostkit: {pending.label}"
            )

        pending.cancel = lambda: post(cancel_on_trio)
        post(start)

    def _post_now(self, fn: Callable[[], None]) -> None:
        with contextlib.suppress(trio.RunFinishedError):  # the host is gone: nothing waits
            self.sched.host._token.run_sync_soon(fn)

    def block(self, inst: Instance, pending: Pending) -> None:
        """Wait on this thread for ``pending`` (a call that cannot yield:
        instantiation), until the call's deadline.

        Raises:
            GuestFault: killed or past the deadline meanwhile.
        """
        event = threading.Event()
        pending.wake = event.set
        if pending.awaitable is not None and pending.cancel is None:
            self.launch(pending, self._post_now)
        guard = inst.guard
        while not pending.done:
            left = guard.deadline - time.monotonic()
            if left <= 0 or guard.killed:
                break
            event.wait(min(left, _BLOCK_POLL))
        if not pending.done:
            guard.abort = (
                ("killed", "killed while waiting in a host function")
                if guard.killed
                else ("deadline", f"activation ran past its deadline waiting in {pending.label}")
            )
            inst.abandon()
            raise inst._fault_from_text("")

    def waits_for(self, aid: int, me: int) -> bool:
        """Whether actor ``aid`` waits in ``process.call``, directly or down
        a chain of such calls, for actor ``me`` (a call from ``me`` to
        ``aid`` would then wait for itself)."""
        for _ in range(256):
            actor = self.actors.get(aid)
            if actor is None or not actor.waiting_on:
                return False
            aid = actor.waiting_on
            if aid == me:
                return True
        return True  # a chain that long: treat as a cycle

    def waits_on_trio(self, actor: Actor) -> bool:
        """Whether ``actor``'s activation is parked in a host function that
        waits for the Trio thread (``trio.from_thread``), or is suspended in
        an async host function whose task is the current Trio task (or its
        ancestor): anything Trio then asks of that actor would wait for
        itself."""
        if actor.state == SUSPENDED:
            inst = actor.instance
            pending = inst.guard.pending if inst is not None else None
            task = pending.task if pending is not None else None
            if task is None:
                return False
            try:
                current: Any = trio.lowlevel.current_task()
            except RuntimeError:
                return False
            for _ in range(64):
                if current is None:
                    return False
                if current is task:
                    return True
                nursery = current.parent_nursery
                current = nursery.parent_task if nursery is not None else None
            return False
        tid = actor.thread
        if not tid or actor.state != RUNNING:
            return False
        frame = sys._current_frames().get(tid)
        while frame is not None:
            if frame.f_code.co_filename.endswith(_TRIO_THREADS):
                return True
            frame = frame.f_back
        return False


async def _await_pending(pending: Pending, aw: Any, scope: trio.CancelScope) -> None:
    """A suspended guest call's awaitable, as a Trio system task: whatever
    happens ends in ``pending.resolve`` (nothing may escape a system task)."""
    pending.task = trio.lowlevel.current_task()
    try:
        with scope:
            value = await aw
    except Exception as exc:  # mapped like a sync raise when the guest resumes
        pending.resolve(None, exc)
        return
    except BaseException as exc:  # the Trio run itself is ending
        pending.resolve(None, exc)
        raise
    if scope.cancelled_caught:  # dropped with its guest call: already resolved
        pending.resolve(None, RuntimeError(f"{pending.label} was cancelled"))
    else:
        pending.resolve(value)
