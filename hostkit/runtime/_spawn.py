"""Host spawns: how :meth:`Host.spawn` hands new actors to the scheduler
threads and hears back, with one Trio wake-up per group of spawns.

Theory of operation. Profiling ``benchmarks/run.py spawn`` (64 concurrent
spawners of a tiny guest, 2 scheduler threads) found two costs beyond the
instantiate + ``init`` itself, both the GIL's:

- *Trio wake-ups.* Each spawn woke the Trio thread through
  ``run_sync_soon`` (a socket write, ``epoll``, ``recv``, an ``epoll``
  re-registration); each of those syscalls releases the GIL, which the
  Trio thread then waits to get back from threads busy instantiating
  (every ctypes call of wasmtime-py drops and retakes it): ~70-90 us of
  Trio-thread CPU per spawn, for ~15 us of Python.
- *Two threads instantiating at once.* Instantiating a tiny guest is
  mostly Python holding the GIL; two threads doing it together thrash it
  and spawn ~1.7x slower than one thread alone.

So host spawns are grouped, per component, into *batches* and *lanes*:

- :meth:`HostSpawns.submit` (Trio thread) queues a new batch (one
  run-queue entry: its first actor) while the component's lane has fewer
  batches queued or running than it may have; else it appends the spawn
  to the lane's batch that is queued and not started yet (at most
  ``_BATCH_MAX``), or leaves it ``waiting`` for a running batch of that
  lane to take.
- The thread that runs a batch's first actor (the scheduler's SPAWNING
  branch) calls its `SpawnSlot`, which publishes the spawn's event (the
  audit ``spawn`` or ``spawn-refused`` record) and posts its wake-up; the
  first slot then runs the batch's other spawns and the lane's waiting
  ones *within the same activation* (:meth:`HostSpawns.run_rest`), so
  their wake-ups reach Trio together, in one ``run_sync_soon``. After
  ``_BATCH_SECONDS`` of it the thread puts what is left back on the run
  queue as a new batch (a finished spawn waits at most that long plus one
  init to be reported, and other work gets the thread).
- Width: a component whose inits are short (smoothed, under
  ``_SERIAL_INIT_SECONDS``) has one batch queued or running at a time, so
  one thread spawns it; others (long inits, e.g. Python guests, or not
  measured yet) may have one per thread, and a running batch leaves half
  its work to a new batch for an idle thread. Lanes are per component: a
  slow ``init`` holds up only spawns of its own component, and only until
  its time pulls the component's average up (then its lane widens).
- A spawn whose activation never reached its slot (a host error) is
  reported by the exit hook (:meth:`Host.actor_exited`), so no spawner is
  left waiting.

Bounds: a waiting spawn is a registered SPAWNING actor, so ``max_actors``
bounds them; lanes exist only while a component has spawns in flight;
``_KNOWN_MAX`` init times are remembered.

Every spawn still gets exactly one of: its pid (``ActorSpawned``
published) or a ``SpawnError`` (``SpawnRefused`` published); a cancelled
spawner's actor is killed, and its spawn is still recorded whichever way
it ended.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import trio

from .._events import ActorSpawned, SpawnRefused
from .._pid import ExitReason

if TYPE_CHECKING:
    from ._actors import Actor
    from ._scheduler import Scheduler
    from ._wasm import CompiledComponent

log = logging.getLogger("hostkit.host")

#: most host spawns grouped into one run-queue entry (one Trio wake-up)
_BATCH_MAX: Final = 16
#: a thread running a batch puts the rest back after this many seconds of inits
#: (under the 5 ms default preemption slice; on a quiet 2-core machine 0.5 / 1 /
#: 2 / 4 ms gave ~111 / 95 / 89 / 86 us per spawn of a tiny guest)
_BATCH_SECONDS: Final = 0.002
#: a component whose inits take less (smoothed) spawns on one thread at a time
_SERIAL_INIT_SECONDS: Final = 0.0005
#: components whose init time is remembered
_KNOWN_MAX: Final = 1024


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
        spawns = batch.lane.spawns
        actor = self.actor
        # Published here, before the spawner is woken: a spawn is recorded
        # however its spawner ends (cancelled ones included).
        if error is None:
            spawns.sched.publish(ActorSpawned(actor.pid, actor.plugin))
        else:
            spawns.sched.publish(SpawnRefused(actor.plugin, error))
        spawns.post(self.wake)  # deferred to the end of the activation
        self._rest(batch)

    def parked(self) -> None:
        """Its ``init`` yielded at a slice or suspended (it is reported when
        it returns, on whichever thread): the rest of a batch it leads runs
        now rather than behind it."""
        batch = self.batch
        if batch is not None:
            self._rest(batch)

    def _rest(self, batch: _Batch) -> None:
        if batch.slots[0] is not self:
            return
        spawns = batch.lane.spawns
        with spawns._lock:  # parked on one thread, reported on another: once
            if batch.rest_run:
                return
            batch.rest_run = True
        spawns.run_rest(batch)

    def wake(self) -> None:
        """On the Trio thread: reschedule the spawner, unless it gave up."""
        if self.waiting:
            self.waiting = False
            trio.lowlevel.reschedule(self.task)

    def abort(self, _raise_cancel: Any) -> trio.lowlevel.Abort:
        self.waiting = False
        return trio.lowlevel.Abort.SUCCEEDED


class _Lane:
    """The host spawns of one component: its batches queued or running
    (``inflight``), the one new spawns may join (``open``), and the spawns
    waiting for a running batch to take them (``waiting``)."""

    __slots__ = ("component", "inflight", "open", "spawns", "waiting")

    def __init__(self, spawns: HostSpawns, component: CompiledComponent) -> None:
        self.spawns = spawns
        self.component = component
        self.inflight = 0
        self.open: _Batch | None = None
        self.waiting: deque[SpawnSlot] = deque()


class _Batch:
    __slots__ = ("lane", "rest_run", "slots")

    def __init__(self, lane: _Lane, slots: list[SpawnSlot]) -> None:
        self.lane = lane
        self.slots = slots
        self.rest_run = False  # run_rest called (once: at the first's report or park)
        for slot in slots:
            slot.batch = self


class HostSpawns:
    """Groups host spawns into run-queue entries; see the module doc."""

    __slots__ = ("_init_seconds", "_lanes", "_lock", "_threads", "post", "sched")

    def __init__(self, sched: Scheduler, post: Callable[[Callable[[], None]], None]) -> None:
        self.sched = sched
        self.post = post
        self._threads = max(1, sched.cfg.scheduler_threads)
        self._lock = threading.Lock()
        self._lanes: dict[CompiledComponent, _Lane] = {}  # components with spawns in flight
        self._init_seconds: dict[str, float] = {}  # smoothed init time, per component name

    def _width(self, component: CompiledComponent) -> int:
        """How many batches of ``component`` may be queued or running at once."""
        seconds = self._init_seconds.get(component.name)
        return 1 if seconds is not None and seconds < _SERIAL_INIT_SECONDS else self._threads

    def submit(self, slot: SpawnSlot) -> None:
        """Queue ``slot``'s SPAWNING actor (Trio thread)."""
        actor = slot.actor
        actor.spawn_waiter = slot
        comp = actor.component
        with self._lock:
            lane = self._lanes.get(comp)
            if lane is None:
                lane = self._lanes[comp] = _Lane(self, comp)
            if lane.inflight >= self._width(comp):
                batch = lane.open
                if batch is not None and len(batch.slots) < _BATCH_MAX:
                    batch.slots.append(slot)
                    slot.batch = batch
                else:
                    lane.waiting.append(slot)  # a running batch of this lane takes it
                return
            lane.inflight += 1  # room for one more batch: a thread can start now
            lane.open = _Batch(lane, [slot])
        self._queue(actor)

    def run_rest(self, batch: _Batch) -> None:
        """Called by a batch's first slot, on the thread that ran it: run the
        batch's other spawns and the lane's waiting ones now, sharing them
        with other threads while the lane may widen, until the time is up."""
        lane = batch.lane
        sched = self.sched
        with self._lock:
            if lane.open is batch:
                lane.open = None  # started: new spawns make a new batch or wait
        todo = deque(batch.slots[1:])
        if not sched.on_scheduler_thread():  # reported from an exit hook elsewhere
            self._pass_on(lane, todo)
            return
        until = time.monotonic() + _BATCH_SECONDS
        while True:
            share: list[SpawnSlot] = []
            with self._lock:
                if not todo and lane.inflight > self._width(lane.component):
                    self._lane_done(lane)  # narrowed: another batch takes the waiting
                    return
                while lane.waiting and len(todo) < _BATCH_MAX:
                    slot = lane.waiting.popleft()
                    slot.batch = batch  # run here, not a batch's first
                    todo.append(slot)
                if not todo:
                    self._lane_done(lane)
                    return
                wide = lane.inflight < self._width(lane.component)
                if len(todo) > 1 and wide and not sched.closing:
                    # leave half for an idle thread: long inits run in parallel
                    share = [todo.pop() for _ in range(len(todo) // 2)][::-1]
                    lane.inflight += 1
            if share:
                _Batch(lane, share)
                self._queue(share[0].actor)
            if time.monotonic() > until and not sched.closing:
                self._pass_on(lane, todo)  # report what is done; the rest runs next
                return
            slot = todo.popleft()
            started = time.monotonic()
            try:
                # reports to ``slot`` when the spawn is done (now, or later
                # if its init is ever left in flight and resumed elsewhere)
                sched.activate(slot.actor)
            except BaseException:  # as the scheduler's own loop: log, end the actor
                log.exception("spawn of %s failed", slot.actor.pid)
                # its exit reports to the spawner (Host.actor_exited)
                sched.exit(slot.actor, ExitReason("host-error", "spawn failed; see host log"))
            self._note(lane.component, time.monotonic() - started)

    def _note(self, component: CompiledComponent, seconds: float) -> None:
        known = self._init_seconds
        old = known.get(component.name)
        if old is None and len(known) >= _KNOWN_MAX:
            known.clear()  # a bound; forgetting only costs a few parallel inits
        known[component.name] = seconds if old is None else old + (seconds - old) / 4

    def _pass_on(self, lane: _Lane, todo: deque[SpawnSlot]) -> None:
        """This batch stops here: its lane continues as a new queued batch of
        ``todo`` (or of waiting spawns), or ends."""
        with self._lock:
            if lane.inflight > self._width(lane.component):
                # narrowed: hand these to the lane's other batches, and end
                lane.waiting.extendleft(reversed(todo))
                self._lane_done(lane)
                return
            while lane.waiting and len(todo) < _BATCH_MAX:
                todo.append(lane.waiting.popleft())
            if not todo:
                self._lane_done(lane)
                return
        rest = list(todo)
        _Batch(lane, rest)
        self._queue(rest[0].actor)

    def _lane_done(self, lane: _Lane) -> None:
        """A batch of ``lane`` ended with nothing left to take (lock held)."""
        lane.inflight -= 1
        if lane.inflight == 0 and self._lanes.get(lane.component) is lane:
            del self._lanes[lane.component]

    def _queue(self, actor: Actor) -> None:
        # the shared queue, which wakes a parked thread (``Scheduler.schedule``
        # would keep it on this thread's own deque)
        self.sched._global.put(actor)
