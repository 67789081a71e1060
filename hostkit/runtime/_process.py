"""The ``process`` imports: what a guest may do synchronously from inside a
handler. Each one hands its signal to the router (or the links, the
registry, the scheduler) with the calling actor as the sender; nothing here
decides or bounds anything on its own."""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Final

from .._pid import KILLED
from .._text import inert
from ._actors import Actor, Waiter
from ._router import DENIED, FULL, NOPROC, TOO_LARGE
from ._wasm import Instance, Pending, ProcessApi

if TYPE_CHECKING:
    from ._scheduler import Scheduler

log = logging.getLogger("hostkit.runtime")
_LEVELS: Final = {"trace": 5, "debug": 10, "info": 20, "warn": 30, "error": 40}
_MAX_LOG_CHARS: Final = 4096
# How many activations a thread waiting in `process.call` runs for others
# meanwhile, nested: each is a Python + wasm stack frame set.
_MAX_HELP_DEPTH: Final = 8


def _me(inst: Instance) -> Actor:
    owner = inst.owner
    assert isinstance(owner, Actor)
    return owner


class ProcessImports(ProcessApi):
    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched
        self.router = sched.router
        self.links = sched.links
        self.registry = sched.registry

    def proc_self(self, inst: Instance) -> int:
        return _me(inst).id

    def proc_spawn(self, inst: Instance, component: str, args: bytes) -> tuple[bool, int | str]:
        return self.sched.spawn_from_guest(_me(inst), component, args)

    def proc_spawn_begin(
        self, inst: Instance, component: str, args: bytes, pending: Pending
    ) -> tuple[bool, int | str] | None:
        """``process.spawn`` from a call that may suspend: the child's
        ``init`` runs as its own activation, the caller's call waits
        (holding no thread) until it ends. The host calls the child's init
        made are charged to the caller's budget before it resumes. If the
        caller's call is dropped first, a child still in init is killed:
        nobody would ever learn its pid."""
        me = _me(inst)
        guard = inst.guard
        sched = self.sched

        def report(ok: bool, value: int | str, spent: int) -> None:
            guard.host_calls += spent  # the caller is suspended: nothing else writes it
            pending.resolve((ok, value))

        child = sched.spawn_child(me, component, args, report, waits=True)
        if not isinstance(child, Actor):
            return child

        def dropped() -> None:
            if child.spawn_waiter is not None:  # its init has not ended
                sched.kill(child, KILLED, cause=me.pid)

        pending.cancel = dropped
        return None

    def proc_send(self, inst: Instance, to: int, payload: bytes) -> str | None:
        return self.router.send(_me(inst), to, payload)

    def proc_call(
        self, inst: Instance, to: int, payload: bytes, timeout_ms: int
    ) -> tuple[bool, bytes | tuple[str, str | None]]:
        me = _me(inst)
        if to == me.id or self.sched.running_here(to):
            return False, ("deadlock", None)
        waiter = Waiter(to)
        code, ref = self.router.start_call(me, to, payload, waiter, timeout_ms)
        if code is not None:
            return False, ("send", code if code in (NOPROC, FULL, TOO_LARGE, DENIED) else NOPROC)
        deadline = min(time.monotonic() + timeout_ms / 1000, inst.guard.deadline)
        self._wait_helping(waiter, deadline, inst)
        if not waiter.done:
            self.router.cancel_call(ref)
            if inst.guard.killed:
                return False, ("exited", "killed")
            return False, ("timeout", None)
        if waiter.error is not None:
            return False, waiter.error
        assert waiter.value is not None
        return True, waiter.value

    def proc_call_begin(
        self, inst: Instance, to: int, payload: bytes, timeout_ms: int, pending: Pending
    ) -> tuple[bool, bytes | tuple[str, str | None]] | None:
        """``process.call`` from a ``deliver``: the guest's call suspends
        (no thread held) until the reply, the callee's exit or the timeout
        resolves ``pending``. A cycle of actors waiting on each other's
        calls is a deadlock, reported at once."""
        me = _me(inst)
        if to == me.id or self.sched.running_here(to) or self.sched.waits_for(to, me.id):
            return False, ("deadlock", None)
        router = self.router

        def replied(w: Waiter) -> None:
            me.waiting_on = 0
            if w.error is not None:
                pending.resolve((False, w.error))
            else:
                pending.resolve((True, w.value))

        waiter = Waiter(to, on_done=replied)
        code, ref = router.start_call(me, to, payload, waiter, timeout_ms)
        if code is not None:
            return False, ("send", code if code in (NOPROC, FULL, TOO_LARGE, DENIED) else NOPROC)
        if not waiter.done:
            me.waiting_on = to

        def timed_out() -> None:
            router.cancel_call(ref)
            me.waiting_on = 0
            pending.resolve((False, ("timeout", None)))

        def dropped() -> None:  # the caller was killed or ran out of time
            router.cancel_call(ref)
            me.waiting_on = 0

        pending.on_timeout = timed_out
        pending.cancel = dropped
        return None

    def _wait_helping(self, waiter: Waiter, deadline: float, inst: Instance) -> None:
        """Wait for a reply, running this thread's other ready actors meanwhile
        (the callee is often one of them: waiting idle would deadlock)."""
        tls = self.sched._tls
        local: deque[Actor] = tls.local
        urgent = self.sched.urgent
        event = waiter.event
        assert event is not None
        depth = tls.depth
        while not waiter.done and not inst.guard.killed:
            now = time.monotonic()
            if now >= deadline:
                return
            if (urgent or local) and depth < _MAX_HELP_DEPTH:
                try:  # the call just made its callee urgent: usually that one
                    other = urgent.popleft()
                    other.promoted = False
                except IndexError:
                    if not local:
                        continue
                    other = local.popleft()
                tls.depth = depth + 1
                try:
                    self.sched.activate(other)
                finally:
                    tls.depth = depth
                continue
            event.wait(min(deadline - now, 0.005))

    def proc_link(self, inst: Instance, other: int) -> str | None:
        return self.links.link(_me(inst), other)

    def proc_unlink(self, inst: Instance, other: int) -> None:
        self.links.unlink(_me(inst), other)

    def proc_monitor(self, inst: Instance, target: int) -> int:
        return self.links.monitor(_me(inst), target)

    def proc_demonitor(self, inst: Instance, ref: int, flush: bool) -> bool:
        return self.links.demonitor(_me(inst), ref, flush)

    def proc_trap_exits(self, inst: Instance, on: bool) -> bool:
        me = _me(inst)
        previous, me.trap_exit = me.trap_exit, on
        return previous

    def proc_register(self, inst: Instance, name: str) -> str | None:
        me = _me(inst)
        gate = self.router.gate
        if gate is not None:
            why = gate.check_name(me, "register", name)
            if why is not None:
                return f"denied: {why}"
        return self.registry.register(me, name)

    def proc_whereis(self, inst: Instance, name: str) -> int | None:
        gate = self.router.gate
        if gate is not None and gate.check_name(_me(inst), "whereis", name):
            return None
        actor = self.registry.names.get(name)
        return actor.id if actor is not None else None

    def proc_log(self, inst: Instance, level: str, message: str) -> None:
        me = _me(inst)
        gate = self.router.gate
        size = len(message.encode(errors="replace"))
        if gate is not None and gate.check_log(me, level, size) is not None:
            return  # denied or over its rate: the gate audited it; the line is dropped
        log.log(
            _LEVELS.get(level, 20),
            "[%s %s] %s",
            me.pid,
            inert(me.name or me.component.name, 255),
            inert(message, _MAX_LOG_CHARS),
        )
