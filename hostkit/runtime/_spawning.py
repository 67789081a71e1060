"""Spawning: building an actor's instance and running its ``init`` as an
activation (part of `Scheduler`, see its module doc).

A SPAWNING actor's first activation builds its Store and starts
instantiating (start functions included) as an async call, then ``init``:
either one that yields at a slice or suspends in a host function is parked
like a ``deliver`` (QUEUED or SUSPENDED) with ``starting`` set (and
``building`` while it is instantiation), and resumed by whichever thread
takes it next. A spawn refused for pool slots or mappings at its first
poll waits for the reaper once and tries again (`Scheduler.instantiate`,
the blocking path a guest's spawn from a start function and the benchmarks
take, still runs both to the end). Its spawner is answered once, through
``spawn_waiter``, when ``init`` returns or fails, or when the actor is
ended meanwhile (``exit`` answers then; a killed or late call is never
resumed).

A guest's spawn (`Spawning.spawn_child`) runs the child's ``init`` the same
way, within what is left of the spawner's activation (``inherit``: deadline,
fuel, host calls), so a chain of spawns cannot buy itself fresh budgets.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from .._events import ActorSpawned, HostEvent, SpawnRefused
from .._pid import KILLED, ExitReason
from ._actors import EXITED, IDLE, QUEUED, Actor
from ._component_limits import EffectiveLimits
from ._registry import SpawnRefused as _Refused
from ._wasm import DONE, CompiledComponent, GuestFault, Instance

if TYPE_CHECKING:
    from ._config import HostConfig
    from ._host import Host
    from ._registry import Registry
    from ._router import Router

__all__ = ["Spawning", "init_failed"]

_NO_FUEL_LIMIT: Final = 1 << 62  # what a spawner "has left" of fuel when fuel is off
_get_ident = threading.get_ident


class Spawning:
    """`Scheduler`'s spawning half (a mixin: it uses the scheduler's
    queues, parking and exits)."""

    cfg: HostConfig
    host: Host
    registry: Registry
    router: Router
    closing: bool
    _default: EffectiveLimits

    if TYPE_CHECKING:  # provided by Scheduler

        def publish(self, event: HostEvent) -> None: ...
        def schedule(self, actor: Actor, urgent: bool = False) -> None: ...
        def _promote(self, actor: Actor) -> None: ...
        def _park(self, actor: Actor, inst: Instance, state: int) -> None: ...
        def exit(
            self, actor: Actor, reason: ExitReason, *, run_terminate: bool = False
        ) -> None: ...

    def new_actor(self, component: CompiledComponent, init_args: bytes, depth: int = 0) -> Actor:
        """Register a SPAWNING actor. Raises the registry's ``SpawnRefused``."""
        return self.registry.new_actor(component, init_args, depth)

    def _left_of(self, parent: Instance) -> tuple[float, int, int] | str:
        """What is left of ``parent``'s call for a child's ``init``
        (deadline, fuel, host calls), or why nothing is."""
        guard = parent.guard
        budget = max(0, parent.host_call_budget - guard.host_calls)
        fuel = _NO_FUEL_LIMIT
        if self.cfg.fuel:
            with contextlib.suppress(Exception):
                fuel = int(parent.store.get_fuel())
        if guard.deadline <= time.monotonic() or budget <= 0 or fuel <= 0:
            return "nothing left of the spawning activation's deadline or budget"
        return guard.deadline, fuel, budget

    def _build(self, actor: Actor, start: bool = True) -> tuple[Instance, int, float] | str:
        """Build the actor's instance: (instance, fuel, deadline) for its
        ``init``, or why it failed. ``start``: instantiation runs here, to
        the end; else it is only begun (see `_start_init`). A child of a
        guest gets only what its spawner left (``inherit``)."""
        lim: EffectiveLimits = actor.component.limits or self._default
        deadline = time.monotonic() + lim.activation_timeout
        fuel = lim.fuel
        budget = self.cfg.host_call_budget
        inherit = actor.inherit
        if inherit is not None:
            deadline = min(deadline, inherit[0])
            budget = inherit[2]
            if fuel:
                fuel = min(fuel, inherit[1])
        for attempt in (1, 2):
            try:
                # A fresh Store + instance; every limit is armed before any
                # guest code (start functions included) runs.
                inst = Instance(
                    self.host.engine,
                    actor.component,
                    limits=lim.store,
                    fuel=fuel,
                    deadline=deadline,
                    host_call_budget=budget,
                    stdio=self.host.stdio_for(actor),
                    owner=actor,
                    start=start,
                )
                break
            except GuestFault as fault:
                if fault.kind == "limit" and attempt == 1:
                    # pool slots or mappings of exited actors whose Stores
                    # the reaper has not deleted yet: wait for it, once
                    self.host.flush_dropped()
                    continue
                return f"instantiation failed ({fault.kind}): {fault.detail}"
            except MemoryError:
                return "instantiation failed: the host is out of memory"
        with actor.lock:
            actor.instance = inst
            if actor.reason is not None:  # killed while it was built
                inst.kill()
        return inst, fuel, deadline

    def instantiate(self, actor: Actor, parent: Instance | None = None) -> str | None:
        """Build the actor's instance and run its ``init`` to the end, on
        this thread (no yields: a guest spawning from instantiation, and a
        benchmark's baseline). Returns None on success or the reason the
        spawn failed. With ``parent`` the child gets only what is left of
        the parent's deadline, fuel and host-call budget."""
        if parent is not None:
            left = self._left_of(parent)
            if isinstance(left, str):
                return left
            actor.inherit = left
        built = self._build(actor)
        if isinstance(built, str):
            return built
        inst, fuel, deadline = built
        try:
            error = inst.init(actor.init_args, fuel, deadline)
        except GuestFault as fault:
            error = f"init failed ({fault.kind}): {fault.detail}"
        else:
            if error is not None:
                error = f"init returned an error: {error}"
        if parent is not None:
            parent.guard.host_calls += inst.guard.host_calls  # the child's init spent them
        if error is not None:
            with actor.lock:
                actor.instance = None
            inst.drop()
            return error
        inst.host_call_budget = self.cfg.host_call_budget
        return None

    def finish_spawn(self, actor: Actor, error: str | None, parent: Actor | None = None) -> None:
        """Move a SPAWNING actor to IDLE/QUEUED (or EXITED if init failed)."""
        self._finish_quietly(actor, error)
        if error is None and actor.state != EXITED:
            self.publish(
                ActorSpawned(actor.pid, actor.plugin, None if parent is None else parent.pid)
            )

    def _child(self, parent: Actor, component: str, args: bytes) -> Actor | tuple[bool, str]:
        """A guest's spawn request through the gate and the caps: the new
        SPAWNING child, or the refusal (published)."""
        comp = self.host.components.get(component)
        if comp is None:
            return False, f"no component named {component!r} is loaded"
        gate = self.router.gate
        if gate is not None:
            why = gate.check_spawn(parent, comp, len(args))
            if why is not None:
                return False, f"denied: {why}"
        if self.closing:
            return False, "host is closing"
        depth = parent.depth + 1
        if depth > self.cfg.max_spawn_depth:
            why = (
                f"spawn depth limit: {parent.pid} is at depth {parent.depth}, "
                f"max_spawn_depth is {self.cfg.max_spawn_depth}"
            )
        else:
            try:
                return self.new_actor(comp, args, depth)
            except _Refused as exc:
                why = str(exc)
        self.publish(SpawnRefused(comp.name, why, parent.pid))
        return False, why

    def spawn_from_guest(
        self, parent: Actor, component: str, args: bytes
    ) -> tuple[bool, int | str]:
        """A guest's spawn with the child's ``init`` run here, nested, to
        the end (only from instantiation, which cannot suspend: see
        `spawn_child`)."""
        child = self._child(parent, component, args)
        if not isinstance(child, Actor):
            return child
        error = self.instantiate(child, parent.instance) if parent.instance else "parent is gone"
        self.finish_spawn(child, error, parent)
        if error is not None:
            self.publish(SpawnRefused(child.plugin, error, parent.pid))
            return False, error
        return True, child.id

    def spawn_child(
        self,
        parent: Actor,
        component: str,
        args: bytes,
        report: Callable[[bool, int | str, int], None],
        *,
        waits: bool = False,
    ) -> Actor | tuple[bool, str]:
        """A guest's spawn (``process.spawn`` or an outbox ``n`` frame):
        gate and caps, then the child's ``init`` as an activation of its
        own (it yields and suspends like ``deliver``) within what is left
        of the parent's deadline, fuel and host-call budget now. Returns
        the refusal, or the queued child; ``report(ok, child id or error,
        host calls its init made)`` is called once its spawn ends, from
        any thread. ``waits``: the parent's call waits for it (a call from
        the child to the parent is then a deadlock, reported at once)."""
        child = self._child(parent, component, args)
        if not isinstance(child, Actor):
            return child
        inst = parent.instance
        left = self._left_of(inst) if inst is not None else "the spawning actor is gone"
        if isinstance(left, str):
            self.finish_spawn(child, left, parent)
            self.publish(SpawnRefused(child.plugin, left, parent.pid))
            return False, left
        child.inherit = left
        ppid = parent.pid

        def ended(error: str | None) -> None:
            if waits and parent.waiting_on == child.id:
                parent.waiting_on = 0
            if error is None:
                self.publish(ActorSpawned(child.pid, child.plugin, ppid))
                report(True, child.id, child.init_calls)
            else:
                self.publish(SpawnRefused(child.plugin, error, ppid))
                report(False, error, child.init_calls)

        child.spawn_waiter = ended
        if waits:
            parent.waiting_on = child.id
        with child.lock:
            self._promote(child)  # its spawner waits on it, like a call
        return child

    def _start_init(self, actor: Actor) -> None:
        """A SPAWNING actor's first activation: build its instance and start
        instantiating it (start functions are guest code), then ``init``;
        either one that yields or suspends goes on as ``starting`` (and
        ``building`` while it is instantiation)."""
        if actor.reason is not None:
            self._spawn_ended(actor, "killed before it started")
            return
        me = _get_ident()
        for attempt in (1, 2):
            built = self._build(actor, start=False)
            if isinstance(built, str):
                self._spawn_ended(actor, built)
                return
            inst, fuel, deadline = built
            actor.thread = me
            inst.polled_on = me
            try:
                state = inst.step()
                break
            except GuestFault as fault:
                actor.thread = 0
                full = inst.limit_reached()
                if full is not None and attempt == 1:
                    # pool slots or mappings of exited actors whose Stores
                    # the reaper has not deleted yet: wait for it, once
                    with actor.lock:
                        actor.instance = None
                    inst.drop()
                    self.host.flush_dropped()
                    continue
                kind, detail = ("limit", full) if full is not None else (fault.kind, fault.detail)
                self._spawn_ended(actor, f"instantiation failed ({kind}): {detail}")
                return
        actor.thread = 0
        actor.init_budget = (fuel, deadline)
        if state != DONE:
            actor.building = True
            self._park_starting(actor, inst, state)
            return
        self._built(actor, inst)

    def _built(self, actor: Actor, inst: Instance) -> None:
        """Instantiation returned: start ``init``."""
        actor.building = False
        fuel, deadline = actor.init_budget
        me = _get_ident()
        actor.thread = me
        try:
            inst.finish_build()
            inst.begin_init(actor.init_args, fuel, deadline)
            inst.polled_on = me
            state = inst.step()
        except GuestFault as fault:
            actor.thread = 0
            self._spawn_ended(actor, f"init failed ({fault.kind}): {fault.detail}")
            return
        actor.thread = 0
        if state == DONE:
            self._init_returned(actor, inst)
            return
        self._park_starting(actor, inst, state)

    def _park_starting(self, actor: Actor, inst: Instance, state: int) -> None:
        actor.starting = True
        waiter = actor.spawn_waiter
        self._park(actor, inst, state)
        parked = getattr(waiter, "parked", None)
        if parked is not None:  # a batch of host spawns goes on without it
            parked()

    def _init_returned(self, actor: Actor, inst: Instance) -> None:
        error = inst.take_init_result()
        if error is not None:
            error = f"init returned an error: {error}"
        else:
            inst.host_call_budget = self.cfg.host_call_budget  # a child's was inherited
        self._spawn_ended(actor, error)

    def _spawn_ended(self, actor: Actor, error: str | None) -> None:
        """``init`` returned (``error`` None) or the spawn failed: move the
        actor on (IDLE/QUEUED, or EXITED) and answer its spawner."""
        with actor.lock:
            done, actor.spawn_waiter = actor.spawn_waiter, None
            actor.starting = actor.building = False
            inst = actor.instance
            if inst is not None:
                actor.init_calls = inst.guard.host_calls
                if error is not None:
                    actor.instance = None
                else:
                    inst = None
        if inst is not None:
            inst.drop()
        if done is None:
            self.finish_spawn(actor, error)
            return
        self._finish_quietly(actor, error)
        if error is None and actor.state == EXITED:  # killed just as init returned
            error = init_failed(actor.reason)
        done(error)

    def _finish_quietly(self, actor: Actor, error: str | None) -> None:
        if error is not None:
            self.exit(actor, actor.reason or ExitReason("error", error), run_terminate=False)
            return
        with actor.lock:
            pending_kill = actor.reason is not None
            if not pending_kill:
                if actor.mailbox or actor.stop_reason is not None:
                    actor.state = QUEUED
                    self.schedule(actor)
                else:
                    actor.state = IDLE
        if pending_kill:
            self.exit(actor, actor.reason or KILLED, run_terminate=False)


def init_failed(reason: ExitReason | None, step: str = "init") -> str:
    """A spawner's error for an actor ended while its ``init`` (or, with
    ``step="instantiation"``, its start functions) ran."""
    if reason is None:
        return f"{step} failed (ended)"
    if reason.detail:
        return f"{step} failed ({reason.kind}): {reason.detail}"
    return f"{step} failed ({reason.kind})"
