"""Host spawns: how :meth:`Host.spawn` hands new actors to the scheduler
threads and hears back, with one Trio wake-up per group of spawns.

Theory of operation. Profiling ``benchmarks/run.py spawn`` (64 concurrent
spawners, 2 scheduler threads) showed the Trio side of a spawn was not its
Python work (~15 us) but its *wake-ups*: each woke the Trio thread through
``run_sync_soon`` (a socket write, ``epoll``, ``recv``, an ``epoll``
re-registration), and every one of those syscalls releases the GIL, which
the Trio thread then waits to get back from two threads busy instantiating
(each ctypes call of wasmtime-py drops and retakes it). About 80 us of
Trio-thread CPU per spawn went there. So spawns are grouped:

- :meth:`HostSpawns.submit` (Trio thread) puts a new *batch* on the shared
  run queue, or appends to the batch that is queued and not started yet
  (at most ``_BATCH_MAX`` spawns). One queue entry, one thread woken.
- The thread that runs the batch's first actor (the scheduler's SPAWNING
  branch) calls its `SpawnSlot`, which publishes the spawn's event (the
  audit record) and posts its wake-up; the first slot then runs the
  batch's other spawns *within the same activation*
  (:meth:`HostSpawns.run_rest`), so their wake-ups are flushed to Trio
  together, with one ``run_sync_soon``, when the activation ends.
- Parallelism is kept: a thread keeps ``1 / scheduler_threads`` of a
  batch and puts the rest back as a batch of its own, for an idle thread
  (split again when run); and after ``_BATCH_SECONDS`` of inits it puts
  the remainder back too, so long inits (Python guests) spread over the
  threads and a finished spawn waits at most that long plus one init to
  be reported.
- A spawn whose activation never reached its slot (a host error) is
  reported by the exit hook (:meth:`Host.actor_exited`), so no spawner is
  left waiting.

Every spawn still gets exactly one of: its pid (``ActorSpawned`` published,
the audit's ``spawn`` record) or a ``SpawnError`` (``SpawnRefused``
published, ``spawn-refused``); a cancelled spawner's actor is killed and
its spawn still recorded, whichever way it ended.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import trio

from .._events import ActorSpawned, SpawnRefused
from .._pid import ExitReason

if TYPE_CHECKING:
    from ._actors import Actor
    from ._scheduler import Scheduler

log = logging.getLogger("hostkit.host")

#: most host spawns grouped into one run-queue entry (one Trio wake-up)
_BATCH_MAX: Final = 16
#: a thread running a batch puts the rest back after this many seconds of inits
_BATCH_SECONDS: Final = 0.001


class SpawnSlot:
    """One :meth:`Host.spawn` waiting for its actor's ``init``: the actor's
    ``spawn_waiter``, called once on the scheduler thread that ran it."""

    __slots__ = ("actor", "batch", "done", "error", "task", "waiting")

    def __init__(self, actor: Actor, task: trio.lowlevel.Task) -> None:
        self.actor = actor
        self.task = task
        self.batch: _Batch | None = None
        self.error: str | None = None
        self.done = False
        self.waiting = True

    def __call__(self, error: str | None) -> None:
        if self.done:
            return
        self.error, self.done = error, True
        batch = self.batch
        assert batch is not None
        spawns = batch.owner
        actor = self.actor
        # Published here, before the spawner is woken: a spawn is recorded
        # however its spawner ends (cancelled ones included).
        if error is None:
            spawns.sched.publish(ActorSpawned(actor.pid, actor.plugin))
        else:
            spawns.sched.publish(SpawnRefused(actor.plugin, error))
        spawns.post(self.wake)  # deferred to the end of the activation
        if batch.slots[0] is self:
            spawns.run_rest(batch)

    def wake(self) -> None:
        """On the Trio thread: reschedule the spawner, unless it gave up."""
        if self.waiting:
            self.waiting = False
            trio.lowlevel.reschedule(self.task)

    def abort(self, _raise_cancel: Any) -> trio.lowlevel.Abort:
        self.waiting = False
        return trio.lowlevel.Abort.SUCCEEDED


class _Batch:
    __slots__ = ("owner", "slots")

    def __init__(self, owner: HostSpawns, slots: list[SpawnSlot]) -> None:
        self.owner = owner
        self.slots = slots
        for slot in slots:
            slot.batch = self


class HostSpawns:
    """Groups host spawns into run-queue entries; see the module doc."""

    __slots__ = ("_lock", "_open", "_threads", "post", "sched")

    def __init__(self, sched: Scheduler, post: Callable[[Callable[[], None]], None]) -> None:
        self.sched = sched
        self.post = post
        self._threads = max(1, sched.cfg.scheduler_threads)
        self._lock = threading.Lock()
        self._open: _Batch | None = None  # queued, no thread has started it

    def submit(self, slot: SpawnSlot) -> None:
        """Queue ``slot``'s SPAWNING actor (Trio thread)."""
        slot.actor.spawn_waiter = slot
        with self._lock:
            batch = self._open
            if batch is not None and len(batch.slots) < _BATCH_MAX:
                batch.slots.append(slot)
                slot.batch = batch
                return
            self._open = _Batch(self, [slot])
        self._queue(slot.actor)

    def run_rest(self, batch: _Batch) -> None:
        """Called by a batch's first slot, on the thread that ran it: run
        (some of) the batch's other spawns now, put the others back."""
        with self._lock:
            if self._open is batch:
                self._open = None  # started: new spawns make a new batch
        rest = batch.slots[1:]
        if not rest:
            return
        sched = self.sched
        if not sched.on_scheduler_thread():  # reported from an exit hook elsewhere
            self._requeue(rest)
            return
        # keep a share, leave the rest to the other threads
        keep = -(-len(batch.slots) // self._threads) - 1
        if keep < len(rest) and not sched.closing:
            self._requeue(rest[keep:])
            rest = rest[:keep]
        until = time.monotonic() + _BATCH_SECONDS
        for i, slot in enumerate(rest):
            if i and time.monotonic() > until and not sched.closing:
                self._requeue(rest[i:])
                return
            try:
                sched.activate(slot.actor)
            except BaseException:  # as the scheduler's own loop: log, end the actor
                log.exception("spawn of %s failed", slot.actor.pid)
                sched.exit(slot.actor, ExitReason("host-error", "spawn failed; see host log"))
            if not slot.done:  # cannot happen, but a spawner must never hang
                slot("host error; see host log")

    def _requeue(self, slots: list[SpawnSlot]) -> None:
        _Batch(self, slots)
        self._queue(slots[0].actor)

    def _queue(self, actor: Actor) -> None:
        # the shared queue, which wakes a parked thread (``Scheduler.schedule``
        # would keep it on this thread's own deque)
        self.sched._global.put(actor)
