"""Links, monitors and exit signals, with Erlang's rules.

- A link is bidirectional. When either end exits with an abnormal reason the
  other receives an exit signal: it exits with the same reason, unless it
  traps exits, in which case an ``e`` frame arrives. ``normal`` and
  ``shutdown`` do not kill a non-trapping actor (except ``shutdown`` sent by
  the host, which stops it). ``kill`` is untrappable.
- A monitor is one-way: exactly one DOWN (``d`` frame, or the host's
  callback) when the target exits; a dead or unknown target gives DOWN
  ``noproc`` at once, a pid of an unreachable node DOWN ``noconnection``.

Across nodes: a link or monitor whose other end is another node's actor
(a remote ``Pid``, or a guest ``u64`` with a node slot: ``Router.resolve``)
is handed to federation as a signal; federation keeps the link, and its
exit signals and DOWNs come back through :meth:`Links.exit_signal` and
:meth:`Links.remote_down`, with the remote pid as the guest sees it (its
slot-encoded ``u64``). Losing the node gives both ``noconnection``.
A spawn with a monitor reserves its ref (:meth:`Links.reserve_remote`)
before the request leaves, so a DOWN read with the spawn's answer (or
before it) finds its watcher and names the new actor.

A guest's link and monitor are capabilities: the router's gate decides them
(``process#link``, ``process#monitor``; ``hostkit:federation#remote-link``
and ``#remote-monitor`` for another node's actor) and the decision is
audited. Exit
signals travel only over links (or come from host code), so the gate's
decision at link time is what lets one actor's exit end another. Every exit
caused by a signal names the pid that sent it (``ActorExited.cause``).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from typing import TYPE_CHECKING, Any

from .._frames import frame
from .._pid import KILLED, ExitReason, Pid
from ._actors import EXITED, Actor
from ._router import DENIED, FULL, MAX_REASON_BYTES, NOPROC

if TYPE_CHECKING:
    from ._scheduler import Scheduler


def _reason_bytes(reason: ExitReason) -> bytes:
    return str(reason).encode()[:MAX_REASON_BYTES].decode(errors="ignore").encode()


class Links:
    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched
        self.router = sched.router
        self.actors = sched.registry.actors
        self._refs = count(1)
        # monitors on another node's actor: ref -> (watcher, the target as
        # the watcher names it (a guest u64), the target); and the refs each
        # watching actor holds, dropped (demonitored) when it exits. A ref
        # reserved for a spawn-with-monitor in flight has wire 0 and target
        # None until the spawn answers (or its DOWN fills them in).
        self.remote_monitors: dict[int, tuple[Any, int, Pid | None]] = {}
        self._remote_refs: dict[int, set[int]] = {}

    def propagate(self, actor: Actor, reason: ExitReason) -> None:
        """Tell links and monitors that ``actor`` exited with ``reason``."""
        with actor.lock:
            links, actor.links = actor.links, set()
            watchers, actor.monitored_by = actor.monitored_by, {}
            mine, actor.monitoring = actor.monitoring, {}
        for ref in self._remote_refs.pop(actor.id, ()):
            entry = self.remote_monitors.pop(ref, None)
            if entry is not None and entry[2] is not None:  # None: no peer holds it yet
                self.router.remote_signal(actor, "demonitor", entry[2], ref=ref, gated=False)
        payload = _reason_bytes(reason)
        for ref, target_id in mine.items():  # monitors this actor held die with it
            target = self.actors.get(target_id)
            if target is not None:
                with target.lock:
                    target.monitored_by.pop(ref, None)
        for ref, watcher in watchers.items():
            self._down(watcher, ref, actor.id, reason, payload)
        for other_id in links:
            other = self.actors.get(other_id)
            if other is not None:
                with other.lock:
                    other.links.discard(actor.id)
                self.exit_signal(other, actor.pid, reason)

    def _down(self, watcher: Any, ref: int, pid: int, reason: ExitReason, payload: bytes) -> None:
        if isinstance(watcher, Actor):
            with watcher.lock:
                watcher.monitoring.pop(ref, None)
            self.router.push(watcher, frame(b"d", pid, ref, payload), system=True)
        else:
            callback: Callable[[ExitReason], None] = watcher  # a Monitor's
            self.sched.host._notify(lambda: callback(reason))

    def exit_signal(
        self, target: Actor, sender: Pid, reason: ExitReason, *, untrappable: bool = False
    ) -> None:
        """Deliver an exit signal from ``sender``: ``untrappable`` (a kill)
        ends the target as ``killed``; a trapping target gets an ``e`` frame;
        otherwise a normal reason is ignored and any other reason ends the
        target with it."""
        if untrappable:
            self.sched.kill(target, KILLED, cause=sender)
        elif target.trap_exit:
            wire = self.router.guest_wire(sender)  # another node's pid: its slot-encoded u64
            self.router.push(target, frame(b"e", wire, 0, _reason_bytes(reason)), system=True)
        elif not reason.is_normal or (reason.kind == "shutdown" and sender.id == 0):
            self.sched.kill(target, reason, cause=sender)

    def link(self, actor: Actor, other: Pid | int, *, gated: bool = True) -> str | None:
        """Link ``actor`` and ``other`` (a local id, a guest ``u64``, or a
        pid); None, or the send-error name. A link to another node's actor
        is handed to federation (which answers a dead one with an exit
        signal ``noproc``)."""
        target = self.router.resolve(other)
        if target is None:
            return NOPROC
        if isinstance(target, Pid):
            return self.router.remote_signal(actor, "link", target, gated=gated) or None
        return self._link_local(actor, target, gated)

    def _link_local(self, actor: Actor, other_id: int, gated: bool) -> str | None:
        if other_id == actor.id:
            return None
        other = self.actors.get(other_id)
        if other is None or other.state == EXITED:
            return NOPROC
        gate = self.router.gate
        if gated and gate is not None and gate.check_link(actor, other) is not None:
            return DENIED
        with actor.lock:
            actor.links.add(other_id)
        with other.lock:
            alive = other.state != EXITED
            if alive:
                other.links.add(actor.id)
        if not alive:
            with actor.lock:
                actor.links.discard(other_id)
            return NOPROC
        return None

    def unlink(self, actor: Actor, other: Pid | int) -> None:
        target = self.router.resolve(other)
        if target is None:
            return
        if isinstance(target, Pid):
            self.router.remote_signal(actor, "unlink", target, gated=False)
            return
        self._unlink_local(actor, target)

    def _unlink_local(self, actor: Actor, other_id: int) -> None:
        with actor.lock:
            actor.links.discard(other_id)
        other = self.actors.get(other_id)
        if other is not None:
            with other.lock:
                other.links.discard(actor.id)

    def monitor(self, watcher: Actor | Callable[[ExitReason], None], target: Pid | int) -> int:
        """Monitor ``target`` for an actor or a host callback. A dead or
        unknown target yields DOWN ``noproc`` at once; a guest's monitor
        the gate denies yields DOWN ``noproc`` too (the guest learns nothing
        about whether the target exists)."""
        ref = next(self._refs)
        aid = self.router.resolve(target)
        if aid is None:  # a guest u64 whose node slot names no node
            self._down(watcher, ref, int(target), ExitReason("noproc"), b"noproc")
            return ref
        if isinstance(aid, Pid):
            self._monitor_remote(watcher, ref, target, aid)
            return ref
        actor = self.actors.get(aid)
        gate = self.router.gate
        if (
            actor is not None
            and isinstance(watcher, Actor)
            and gate is not None
            and gate.check_monitor(watcher, actor) is not None
        ):
            actor = None
        registered = False
        if actor is not None:
            with actor.lock:
                if actor.state != EXITED:
                    actor.monitored_by[ref] = watcher
                    registered = True
        if registered:
            if isinstance(watcher, Actor):
                with watcher.lock:
                    watcher.monitoring[ref] = aid
        else:
            self._down(watcher, ref, aid, ExitReason("noproc"), b"noproc")
        return ref

    def _monitor_remote(
        self, watcher: Actor | Callable[[ExitReason], None], ref: int, named: Pid | int, pid: Pid
    ) -> None:
        wire = int(named) if not isinstance(named, Pid) else self.router.guest_wire(pid)
        actor = watcher if isinstance(watcher, Actor) else None
        self.remote_monitors[ref] = (watcher, wire, pid)
        if actor is not None:
            self._remote_refs.setdefault(actor.id, set()).add(ref)
        code = self.router.remote_signal(actor, "monitor", pid, ref=ref)
        if code == DENIED:  # as for a local target: the watcher learns nothing
            self.remote_down(ref, pid.id, ExitReason(NOPROC))
        elif code == FULL:
            self.remote_down(ref, pid.id, ExitReason("limit", "the link's send buffer is full"))
        elif code:
            self.remote_down(ref, pid.id, ExitReason("noconnection"))

    def demonitor(self, watcher: Actor, ref: int, flush: bool) -> bool:
        """A guest's demonitor: only its own monitors."""
        remote = self.remote_monitors.get(ref)
        if remote is not None and remote[0] is watcher:
            self._forget_remote(ref)
            if remote[2] is not None:  # a reserved ref: no peer holds it yet
                self.router.remote_signal(watcher, "demonitor", remote[2], ref=ref, gated=False)
        with watcher.lock:
            target_id = watcher.monitoring.pop(ref, None)
            if flush:
                key = b"%016x" % ref
                kept = [f for f in watcher.mailbox if not (f[:1] == b"d" and f[17:33] == key)]
                if len(kept) != len(watcher.mailbox):
                    self.router.drain(watcher)
                    for f in kept:
                        watcher.mailbox.append(f)
                        watcher.mailbox_bytes += len(f)
                    self.router.host_bytes += watcher.mailbox_bytes
        if target_id is None:
            return remote is not None and remote[0] is watcher
        target = self.actors.get(target_id)
        if target is not None:
            with target.lock:
                target.monitored_by.pop(ref, None)
        return True

    def remote_down(
        self, ref: int, pid: int, reason: ExitReason, *, wire: int | None = None
    ) -> None:
        """Federation's half of a monitor on another node's actor: its DOWN
        (or ``noconnection`` when the node is lost). ``wire`` names the
        target for a reserved ref whose spawn has not answered yet."""
        entry = self._forget_remote(ref)
        if entry is not None:
            watcher, named, _ = entry
            if not named and wire is not None:
                named = wire
            self._down(watcher, ref, named, reason, _reason_bytes(reason))

    def reserve_remote(self, watcher: Actor) -> int:
        """A fresh ref for ``watcher``'s monitor of an actor another node is
        about to spawn, registered before the spawn request leaves, so a DOWN
        read in the same batch as the spawn's answer finds it. Fill it with
        :meth:`fill_remote`, or drop it with :meth:`release_remote`."""
        ref = next(self._refs)
        self.remote_monitors[ref] = (watcher, 0, None)
        self._remote_refs.setdefault(watcher.id, set()).add(ref)
        return ref

    def fill_remote(self, ref: int, wire: int, pid: Pid) -> bool:
        """Complete the reserved ``ref`` with the spawned actor; False if it
        is gone (its DOWN came first, or the watcher ended or demonitored)
        or was filled already."""
        entry = self.remote_monitors.get(ref)
        if entry is None or entry[2] is not None:
            return False
        self.remote_monitors[ref] = (entry[0], wire, pid)
        return True

    def release_remote(self, ref: int) -> None:
        """Drop the reserved ``ref`` (its spawn failed): nothing is sent."""
        self._forget_remote(ref)

    def _forget_remote(self, ref: int) -> tuple[Any, int, Pid | None] | None:
        entry = self.remote_monitors.pop(ref, None)
        if entry is not None and isinstance(entry[0], Actor):
            refs = self._remote_refs.get(entry[0].id)
            if refs is not None:
                refs.discard(ref)
                if not refs:
                    del self._remote_refs[entry[0].id]
        return entry

    def host_demonitor(self, target: Pid, ref: int) -> bool:
        """Host code's demonitor (the host's DOWN is a callback: nothing to flush)."""
        aid = self.router.local_id(target)
        if aid is None:
            entry = self._forget_remote(ref)
            if entry is not None and entry[2] is not None:
                self.router.remote_signal(None, "demonitor", entry[2], ref=ref, gated=False)
            return entry is not None
        actor = self.actors.get(aid)
        if actor is None:
            return False
        with actor.lock:
            return actor.monitored_by.pop(ref, None) is not None
