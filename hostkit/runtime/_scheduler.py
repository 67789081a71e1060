"""Scheduler threads, activations, spawning and exits.

Scheduler threads (long-lived, one per core by default) pop actors and run
one *activation*: take up to ``batch_size`` frames, one ``deliver`` call,
hand the returned outbox to the router. A thread that makes another actor
ready keeps it on its own local deque (no cross-thread wake-up, which costs
more than a whole activation) unless another thread is idle and the local
deque already holds work, in which case it goes to the shared queue for
that thread.

Priority. An actor made ready by a call, a system frame (a timer, DOWN,
exit, undeliverable, spawn report) or a stop request goes to the shared
*priority* deque, which every thread takes from before its own deque and
the shared queue: a call then waits for at most the activations already
running, not for the bulk casts queued ahead of it. An actor that is
already QUEUED is promoted the same way, once: the stale entry it leaves in
the bulk queue finds it no longer QUEUED, or runs it legitimately later
(an activation starts only on the QUEUED -> RUNNING step under its lock, so
it never runs on two threads). Wasm never runs on the Trio thread; results reach Trio through
one ``run_sync_soon`` per batch of notifications.

Stealing. Work on a thread's local deque would starve behind that thread's
current activation if the guest blocks (a slow host function, a call):
an idle thread first steals from the other threads' local deques (from
their far end), and parks for at most ``_STEAL_POLL`` seconds before
looking again. Safe for the same reason as stale entries: an activation
starts only on the QUEUED -> RUNNING step under the actor's lock.

Preemption. An activation is an async guest call (see ``_wasm/_instance``):
when its slice (``HostConfig.slice_seconds``) is over, the epoch callback
yields, the call stays in flight on the instance and the actor goes to the
back of the shared bulk queue (QUEUED), so a guest spinning in wasm delays
others by about one slice per thread. Whichever thread takes it next
resumes the same call; new frames wait in its mailbox meanwhile. Deadline,
fuel and host-call budget are armed once per call and keep counting; a
yielded actor that is killed or past its deadline is ended without being
resumed (its call is dropped; the instance is never entered again). A
yielded actor is never promoted to the priority deque: a call to it waits
for its current activation like any other.

Suspension. A guest waiting in an async host function (one returning an
awaitable, run as a task on the Trio loop) or in ``process.call`` is
SUSPENDED: no thread holds it. What it waits on resolves a `Pending`, which
wakes it (QUEUED, priority deque, like a reply); so does its ``due`` time
(the call's timeout or the activation deadline), kept in a heap every
thread looks at between activations. Killing it drops the call and cancels
the Trio task.

``init`` and ``terminate`` are activations too, and so is instantiation
(a component's start functions are guest code). A SPAWNING actor's first
activation builds its Store and starts instantiating, then ``init``; either
one that yields or suspends moves on as QUEUED/SUSPENDED with ``starting``
set (and ``building`` during instantiation), and its spawner
(``spawn_waiter``) is answered when ``init`` returns, fails, or the actor
is killed meanwhile (ended without re-entry, like any
yielded call). A stopping actor's ``terminate`` starts from its activation
(``exit(run_terminate=True)``); one that yields or suspends keeps
``terminating`` (its exit reason) and stays alive (its mailbox open, its
name and links in place) until ``terminate`` returns, fails or is killed,
and only then does ``exit`` run: ActorExited first, then the signals it
sends. A kill during ``terminate`` ends it at once, reason ``killed``.

Fairness. A thread whose local deque never empties (guests waking each
other) also takes one actor from the shared queue every ``_SHARED_EVERY``
turns, so host sends and yielded activations are not starved by local
traffic (a yielded activation's deadline keeps counting while it waits).

Spawns (the `Spawning` half of the class, in ``_spawning``) are bounded:
live actors per host and per plugin (the registry), the depth of
guest-spawned chains, and a child spawned by a guest runs its ``init``
within what is left of the spawning activation's deadline, fuel and
host-call budget, so a chain of spawns cannot buy itself fresh budgets. A
guest's spawn runs the child's ``init`` as an activation of its own:
``process.spawn`` suspends the spawner until it ends (the host calls it
made are charged to the spawner before it resumes; a spawner dropped
meanwhile takes a child still in init with it), and an outbox ``n``
frame's child starts after the spawner's activation returned, with what
that activation left, while the spawner is held (SUSPENDED with
``outbox_rest``, see `_route`) until it reports with a ``p`` frame; then
the rest of the outbox is routed. Only a spawn from
instantiation (which cannot suspend) still runs the child's ``init``
nested, on the spawner's thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from .._events import ActorExited, HostEvent
from .._pid import KILLED, ExitReason, Pid
from ._actors import EXITED, IDLE, QUEUED, RUNNING, SPAWNING, SUSPENDED, Actor
from ._component_limits import EffectiveLimits
from ._links import Links
from ._registry import Registry
from ._router import Router
from ._spawning import Spawning, init_failed
from ._suspend import Suspensions
from ._timers import Timers
from ._wasm import (
    DONE,
    GuestFault,
    Instance,
    Pending,
)
from ._wasm import (
    SUSPENDED as CALL_SUSPENDED,
)
from ._wasm._guard import PendingSlots

if TYPE_CHECKING:
    from ._host import Host

log = logging.getLogger("hostkit.runtime")
_WAKE: Final = object()  # put on the shared queue: "look at the priority deque"
_STEAL_POLL: Final = 0.02  # an idle thread looks for stranded local work this often
_SHARED_EVERY: Final = 61  # a busy thread takes from the shared queue once per this many turns
_get_ident = threading.get_ident


class Scheduler(Spawning):
    """Run queue, scheduler threads, activations, spawns and exits."""

    def __init__(self, host: Host, threads: int, node: str, creation: int) -> None:
        self.host = host
        self.cfg = cfg = host.config
        self.events = host.events
        self._limits = cfg.limits()  # the config is frozen: build once
        self._default = EffectiveLimits(cfg.fuel, cfg.activation_timeout, self._limits)
        self._global: queue.SimpleQueue[Actor | object | None] = queue.SimpleQueue()
        self.urgent: deque[Actor] = deque()
        self.priority = True  # False: every wake-up FIFO (a benchmark's baseline)
        self._tls = threading.local()
        self._threads: list[threading.Thread] = []
        self._n_threads = threads
        self._idle = 0
        self._locals: list[deque[Actor]] = []  # every thread's local deque, for stealing
        self.registry = Registry(
            node,
            creation,
            max_actors=cfg.max_actors,
            max_actors_per_plugin=cfg.max_actors_per_plugin,
            exit_history=cfg.exit_history,
        )
        self.actors = self.registry.actors
        self.router = Router(self)
        self.links = Links(self)
        self.timers = Timers(self.router, cfg.max_timers_per_actor)
        self.closing = False
        self._causes: dict[int, Pid] = {}  # actor id -> the pid whose signal is ending it
        self.suspensions = Suspensions(self)
        self.yields = 0  # activations that ended at a slice (diagnostics)
        self.migrations = 0  # in-flight calls resumed on another thread (diagnostics)

    def publish(self, event: HostEvent) -> None:
        """Publish from the runtime: an exit or a spawn has happened whatever
        the subscribers say, so a failing one (a broken audit log) is logged,
        never allowed to unwind the runtime mid-exit."""
        if self.events:
            try:
                self.events.publish(event)
            except Exception:
                log.exception("could not publish %r (is the audit log broken?)", event)

    def post(self, fn: Callable[[], None]) -> None:
        self.host._post(fn)

    # -- threads -----------------------------------------------------------
    def start(self) -> None:
        engine = self.host.engine
        engine.set_slice(self.cfg.slice_seconds)
        engine.pending_slots = PendingSlots(self.cfg.max_pending_host_calls)
        engine.suspender = self
        for i in range(self._n_threads):
            t = threading.Thread(target=self._run, name=f"hostkit-sched-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        for _ in self._threads:
            self._global.put(None)
        for t in self._threads:
            t.join()
        self._threads.clear()
        self._locals.clear()

    def _run(self) -> None:
        local: deque[Actor] = deque()
        self._tls.local = local
        self._locals.append(local)
        self._tls.depth = 0
        deferred: list[Callable[[], None]] = []
        self.host._post_tls.deferred = deferred
        flush = self.host._flush_deferred
        get = self._global.get
        urgent = self.urgent
        sleepers = self.suspensions.sleepers
        wake_due = self.suspensions.wake_due
        turns = 0
        while True:
            if sleepers and sleepers[0][0] <= time.monotonic():
                wake_due()
            turns += 1
            if turns >= _SHARED_EVERY and local:
                # Fairness: while local work keeps coming (guests waking each
                # other), the shared queue (host sends, yielded actors) is
                # otherwise never looked at, and a yielded activation would
                # starve into its deadline. Look at it every few turns.
                turns = 0
                try:
                    item = self._global.get_nowait()
                except queue.Empty:
                    item = _WAKE
                if item is None:
                    return
                if isinstance(item, Actor):
                    local.append(item)  # runs after the local work ahead of it
            if urgent:
                try:
                    actor = urgent.popleft()
                except IndexError:  # another thread took it
                    continue
                actor.promoted = False
            elif local:
                actor = local.popleft()
            elif (stolen := self._steal(local)) is not None:
                actor = stolen
            else:
                self._idle += 1
                if urgent:  # appended before we counted as idle: no _WAKE comes
                    self._idle -= 1
                    continue
                wait = _STEAL_POLL
                if sleepers:
                    wait = max(0.0, min(wait, sleepers[0][0] - time.monotonic()))
                try:
                    item = get(timeout=wait)
                except queue.Empty:  # nothing new: look for stranded work again
                    self._idle -= 1
                    continue
                self._idle -= 1
                if item is None:
                    return
                if item is _WAKE:
                    continue
                assert isinstance(item, Actor)
                actor = item
            try:
                self.activate(actor)
            except BaseException:  # a bug here must not kill the thread silently
                log.exception("scheduler: activation of %s failed", actor.pid)
                self.exit(actor, ExitReason("host-error", "scheduler failure; see host log"))
            if deferred:
                flush(deferred)

    def _steal(self, mine: deque[Actor]) -> Actor | None:
        """An actor from another thread's local deque (its far end), or None."""
        for other in self._locals:
            if other is not mine and other:
                try:
                    return other.pop()
                except IndexError:  # its owner took it meanwhile
                    continue
        return None

    def schedule(self, actor: Actor, urgent: bool = False) -> None:
        """Put a QUEUED actor on a run queue (caller holds its lock);
        ``urgent``: on the priority deque (see the module doc)."""
        if urgent and self.priority:
            inst = actor.instance
            if inst is not None and inst.in_flight:
                return  # yielded at a slice: already at the back of the bulk queue
            if not actor.promoted:
                actor.promoted = True
                self.urgent.append(actor)
                if self._idle:  # read after the append: see _run
                    self._global.put(_WAKE)
            return
        local: deque[Actor] | None = getattr(self._tls, "local", None)
        if local is None or (local and self._idle):
            self._global.put(actor)
        else:
            local.append(actor)

    def on_scheduler_thread(self) -> bool:
        return getattr(self._tls, "local", None) is not None

    def running_here(self, aid: int) -> bool:
        """Whether ``aid`` is executing on this thread (its activation is on
        this thread's stack): a call to it from here would wait for itself."""
        actor = self.actors.get(aid)
        return actor is not None and actor.thread == _get_ident()

    def waits_for(self, aid: int, me: int) -> bool:
        """Whether actor ``aid`` waits in ``process.call``, directly or down
        a chain of such calls, for actor ``me``."""
        return self.suspensions.waits_for(aid, me)

    def waits_on_trio(self, actor: Actor) -> bool:
        """Whether anything Trio asks of ``actor`` now would wait for itself
        (see `Suspensions.waits_on_trio`)."""
        return self.suspensions.waits_on_trio(actor)

    def block(self, inst: Instance, pending: Pending) -> None:
        """The engine's ``Suspender``: see `Suspensions.block`."""
        self.suspensions.block(inst, pending)

    # -- the activation ------------------------------------------------------
    def activate(self, actor: Actor) -> None:
        if actor.state == SPAWNING:
            self._start_init(actor)
            return
        cfg = self.cfg
        with actor.lock:
            if actor.state != QUEUED:
                return
            actor.state = RUNNING
            inst = actor.instance
            rest, actor.outbox_rest = actor.outbox_rest, None
            resuming = rest is not None or (inst is not None and inst.in_flight)
            stopping = actor.reason is not None or (actor.stop_reason is not None and not resuming)
            if not stopping and not resuming:
                batch = self.router.take(actor, cfg.batch_size)
        if stopping:  # asked to stop or killed: no more deliveries
            reason = actor.reason or actor.stop_reason
            assert reason is not None
            self.exit(actor, reason, run_terminate=actor.reason is None)
            return
        if rest is not None:  # an outbox spawn has reported: route the rest
            actor.outbox_ready = False
            self._route(actor, *rest)
            return
        assert inst is not None
        me = _get_ident()
        actor.thread = me  # see running_here / waits_on_trio
        try:
            if resuming:
                if inst.polled_on != me:
                    self.migrations += 1
                    inst.polled_on = me
                state = inst.resume()
            else:
                lim: EffectiveLimits = actor.component.limits or self._default
                inst.begin_deliver(batch, lim.fuel, time.monotonic() + lim.activation_timeout)
                inst.polled_on = me
                state = inst.step()
        except GuestFault as fault:
            actor.thread = 0
            self._faulted(actor, fault)
            return
        actor.thread = 0
        if state != DONE:
            self._park(actor, inst, state)
            return
        if actor.starting:  # the call that returned was init, or instantiation
            if actor.building:
                self._built(actor, inst)
            else:
                self._init_returned(actor, inst)
            return
        if actor.terminating is not None:  # ... or terminate: the exit completes
            self.exit(actor, actor.terminating)
            return
        self._route(actor, inst.take_outbox(), 0)

    def _route(self, actor: Actor, out: bytes, routed: int) -> None:
        """Route a finished activation's outbox (from frame ``routed`` on),
        then move the actor on: IDLE, QUEUED, held behind an outbox spawn
        (SUSPENDED until `outbox_spawn_reported`), or exiting."""
        rest = self.router.route_outbox(actor, out, routed) if out else None
        with actor.lock:
            if rest is not None and actor.reason is None:
                actor.outbox_rest = rest
                if actor.outbox_ready:  # it reported already
                    actor.outbox_ready = False
                    actor.state = QUEUED
                    self._promote(actor)
                else:
                    actor.state = SUSPENDED
                return
            if actor.reason is None and actor.stop_reason is None:
                if actor.mailbox:
                    actor.state = QUEUED
                    self.schedule(actor)
                else:
                    actor.state = IDLE
                return
        reason = actor.reason or actor.stop_reason
        assert reason is not None
        self.exit(actor, reason, run_terminate=actor.reason is None)

    def _faulted(self, actor: Actor, fault: GuestFault) -> None:
        """The call in flight failed or was ended (and was dropped)."""
        if actor.starting:
            step = "instantiation" if actor.building else "init"
            self._spawn_ended(actor, f"{step} failed ({fault.kind}): {fault.detail}")
            return
        pending = actor.reason if fault.kind == "killed" else None
        # a failing terminate does not change the reason the actor stops for
        self.exit(actor, pending or actor.terminating or ExitReason(fault.kind, fault.detail))

    def _park(self, actor: Actor, inst: Instance, state: int) -> None:
        """The activation stopped short of done: at a slice end (back of the
        bulk queue) or suspended in a host function (SUSPENDED until what it
        waits on resolves, or its due time)."""
        pending = inst.guard.pending if state == CALL_SUSPENDED else None
        if pending is not None:
            pending.wake = lambda: self.wake(actor)
            if pending.awaitable is not None and pending.cancel is None:
                self.suspensions.launch(pending, self.post)
        with actor.lock:
            if actor.reason is None:
                if pending is None:
                    self.yields += 1
                    actor.state = QUEUED
                    self._global.put(actor)  # the back of the bulk queue: others run first
                elif pending.done:  # resolved meanwhile: resume soon
                    actor.state = QUEUED
                    self._promote(actor)
                else:
                    actor.state = SUSPENDED
                    self.suspensions.sleep(actor, pending)
                return
        # killed while it ran: its call is dropped, never resumed
        self.exit(actor, actor.reason)

    def _promote(self, actor: Actor) -> None:
        """Queue a QUEUED actor (caller holds its lock) on the priority deque."""
        if not self.priority:
            self._global.put(actor)
        elif not actor.promoted:
            actor.promoted = True
            self.urgent.append(actor)
            if self._idle:
                self._global.put(_WAKE)

    def outbox_spawn_reported(self, actor: Actor, spent: int) -> None:
        """The child of ``actor``'s outbox ``n`` frame ended its ``init``
        (its ``p`` frame is pushed): route the rest of that outbox. The
        host calls the child's init made are charged to the activation the
        spawner's next ``n`` frames inherit from."""
        with actor.lock:
            inst = actor.instance
            if inst is not None and not inst.in_flight:
                inst.guard.host_calls += spent
            if actor.state == SUSPENDED and actor.outbox_rest is not None:
                actor.state = QUEUED
                self._promote(actor)
            else:
                actor.outbox_ready = True  # not held yet: `_route` sees this

    def wake(self, actor: Actor) -> None:
        """What a SUSPENDED actor waits on resolved (from any thread)."""
        with actor.lock:
            if actor.state == SUSPENDED:
                actor.state = QUEUED
                self._promote(actor)

    # -- exits -----------------------------------------------------------------
    def kill(self, actor: Actor, reason: ExitReason = KILLED, *, cause: Pid | None = None) -> None:
        """Untrappable kill from any thread: a running guest traps at the next
        epoch tick; an idle or queued one exits now."""
        with actor.lock:
            state = actor.state
            if state == EXITED:
                return
            if actor.reason is None:
                actor.reason = reason  # pending until the owning thread sees it
                if cause is not None:
                    self._causes[actor.id] = cause
            if actor.instance is not None:
                actor.instance.kill()
            if state in (RUNNING, SPAWNING):
                return  # the thread running it traps it at the next epoch tick
        self.exit(actor, reason, run_terminate=False)

    def request_stop(self, actor: Actor, reason: ExitReason) -> None:
        """Graceful stop: ``terminate(reason)`` runs on a scheduler thread."""
        with actor.lock:
            if actor.state == EXITED:
                return
            ending_init = actor.starting and self.closing
            if not ending_init:
                actor.stop_reason = reason
                if actor.state == IDLE:
                    actor.state = QUEUED
                    self.schedule(actor, urgent=True)
                elif actor.state == QUEUED and self.priority:
                    self.schedule(actor, urgent=True)
        if ending_init:  # the host closes: an init in flight ends, as a SPAWNING one does
            self.kill(actor, reason)

    def exit(self, actor: Actor, reason: ExitReason, *, run_terminate: bool = False) -> None:
        """End ``actor`` for ``reason``. ``run_terminate`` (from the
        activation of a stopping actor only): ``terminate(reason)`` runs
        first, as an activation that yields and suspends like ``deliver``;
        the exit completes when it returns or is ended."""
        if run_terminate:
            if self._begin_terminate(actor, reason):
                return  # terminate yielded or suspended: activate ends the exit
            reason = actor.reason or reason  # killed during terminate
        with actor.lock:
            if actor.state == EXITED:
                return
            actor.state = EXITED
            actor.reason = reason
            inst = actor.instance
            actor.instance = None
            dropped = self.router.drain(actor)
            done, actor.spawn_waiter = actor.spawn_waiter, None
            if inst is not None and actor.starting:
                actor.init_calls = inst.guard.host_calls
            step = "instantiation" if actor.building else "init"
            actor.starting = actor.building = False
            actor.terminating = None
            actor.outbox_rest = None
        actor.waiting_on = 0
        if inst is not None:
            # a call still in flight (yielded or suspended) is dropped, never
            # resumed, and no other export runs on that instance
            self.host.drop_instance(inst)  # the Store is deleted off this thread
        self.registry.remove(actor, reason)
        detail = str(reason)
        router = self.router
        for ref in list(actor.calls):
            waiter = router.calls.pop(ref, None)
            if waiter is not None:
                waiter.resolve(None, ("exited", detail))
        actor.calls.clear()
        if dropped:
            router.bounce(dropped, detail)
        if actor.id in self.timers.by_actor:  # a read; the table is Trio's
            timers, aid = self.timers, actor.id
            self.post(lambda: timers.drop_actor(aid))
        cause = self._causes.pop(actor.id, None)
        # published before the signals it sends, so the log reads cause first
        self.publish(ActorExited(actor.pid, actor.plugin, reason, cause))
        self.links.propagate(actor, reason)
        self.host.actor_exited(actor, reason)
        if done is not None:  # ended while its init was in flight
            done(init_failed(reason, step))

    def _begin_terminate(self, actor: Actor, reason: ExitReason) -> bool:
        """Start ``terminate(reason)`` on this scheduler thread and run its
        first slice; True when it yielded or suspended (the actor is parked
        with ``terminating`` set), False when it is over (or cannot run)."""
        if not self.on_scheduler_thread():
            return False
        with actor.lock:
            inst = actor.instance
            if actor.state == EXITED or inst is None or inst.in_flight or actor.terminating:
                return False
            actor.terminating = reason
        lim: EffectiveLimits = actor.component.limits or self._default
        me = _get_ident()
        actor.thread = me
        try:
            inst.begin_terminate(
                str(reason)[:1024], lim.fuel, time.monotonic() + lim.activation_timeout
            )
            inst.polled_on = me
            state = inst.step()
        except GuestFault:  # a failing terminate does not change the exit reason
            state = DONE
        finally:
            actor.thread = 0
        if state == DONE:
            return False
        self._park(actor, inst, state)
        return True
