"""Actors, mailboxes and the scheduler threads that run them.

Theory of operation
-------------------
An actor is a sandboxed instance plus a bounded mailbox of ready-made
frames (see ``wit/plugin/plugin.wit``). Its ``state`` moves

    SPAWNING -> QUEUED <-> RUNNING -> ... -> EXITED
                  ^           |
                  +-- IDLE <--+

under the actor's own lock. Whoever appends to an IDLE actor's mailbox flips
it to QUEUED and puts it on a run queue: exactly one queue entry exists per
QUEUED actor, so one actor never runs on two threads at once.

Scheduler threads (long-lived, one per core by default) pop actors and run
one *activation*: take up to ``batch_size`` frames, one ``deliver`` call,
route the returned outbox. A thread that makes another actor ready keeps it
on its own local deque (no cross-thread wake-up, which costs more than a
whole activation) unless another thread is idle and the local deque already
holds work, in which case it goes to the shared queue for that thread.
Wasm never runs on the Trio thread; results reach Trio through one
``run_sync_soon`` per batch of notifications.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

from .._errors import MailboxFull, MessageTooLarge, NoProc
from ._pid import KILLED, NORMAL, ExitReason, Pid
from ._wasm import CompiledComponent, GuestFault, Instance, ProcessApi

if TYPE_CHECKING:
    from ._host import Host

log = logging.getLogger("hostkit.runtime")

SPAWNING, IDLE, QUEUED, RUNNING, EXITED = range(5)
_STATE_NAMES: Final = ("spawning", "idle", "queued", "running", "exited")

_HEADER: Final = 41
# pid, ref and len of a header: exactly 40 lowercase hex digits (int() alone
# would also take signs, spaces and underscores).
_HEX40: Final = re.compile(rb"[0-9a-f]{40}").fullmatch


def frame(kind: bytes, pid: int, ref: int, payload: bytes) -> bytes:
    """One wire frame: kind, pid, ref, length, payload (see the WIT docs)."""
    return b"%s%016x%016x%08x" % (kind, pid, ref, len(payload)) + payload


class Waiter:
    """A pending call's reply slot, resolved from any thread."""

    __slots__ = ("done", "error", "event", "on_done", "target", "value")

    def __init__(self, target: int, on_done: Callable[[Waiter], None] | None = None) -> None:
        self.target = target
        self.value: bytes | None = None
        self.error: tuple[str, str | None] | None = None
        self.done = False
        self.on_done = on_done
        self.event: threading.Event | None = None if on_done else threading.Event()

    def resolve(self, value: bytes | None, error: tuple[str, str | None] | None = None) -> None:
        if self.done:
            return
        self.value, self.error, self.done = value, error, True
        if self.on_done is not None:
            self.on_done(self)
        elif self.event is not None:
            self.event.set()


class Actor:
    """One running component instance. Users see only its :class:`Pid`."""

    __slots__ = (
        "calls",
        "component",
        "exit_waiters",
        "id",
        "init_args",
        "instance",
        "links",
        "lock",
        "mailbox",
        "monitored_by",
        "monitoring",
        "name",
        "pid",
        "reason",
        "spawn_waiter",
        "state",
        "stop_reason",
        "trap_exit",
    )

    def __init__(self, aid: int, component: CompiledComponent, init_args: bytes) -> None:
        self.id = aid
        self.pid = Pid(aid)
        self.component = component
        self.init_args = init_args
        self.instance: Instance | None = None
        self.lock = threading.Lock()
        self.mailbox: deque[bytes] = deque()
        self.state = SPAWNING
        self.name: str | None = None
        self.reason: ExitReason | None = None
        self.stop_reason: ExitReason | None = None
        self.calls: set[int] = set()  # refs of calls awaiting this actor's reply
        self.exit_waiters: list[Callable[[ExitReason], None]] = []
        self.spawn_waiter: Callable[[str | None], None] | None = None
        self.links: set[int] = set()
        self.monitored_by: dict[int, int] = {}  # monitor ref -> watcher pid (0: host)
        self.monitoring: dict[int, int] = {}  # monitor ref -> target pid
        self.trap_exit = False

    @property
    def state_name(self) -> str:
        return _STATE_NAMES[self.state]


class ProcessGate(Protocol):
    """Authorizes what a guest does to other actors; the capability gate
    implements it. Each check returns None to allow, or why it is denied.
    Called on scheduler threads, on the hot path of every guest send."""

    def check_send(self, sender: Actor, target: Actor, size: int) -> str | None: ...

    def check_call(
        self, sender: Actor, target: Actor, size: int, timeout_ms: int
    ) -> str | None: ...

    def check_spawn(self, parent: Actor, component: CompiledComponent, size: int) -> str | None: ...

    def check_name(self, actor: Actor, action: str, name: str) -> str | None: ...


class Scheduler(ProcessApi):
    """Run queue, scheduler threads, routing and the ``process`` imports."""

    def __init__(self, host: Host, threads: int) -> None:
        self.host = host
        self.cfg = host.config
        self._limits = host.config.limits()  # the config is frozen: build once
        self._global: queue.SimpleQueue[Actor | None] = queue.SimpleQueue()
        self._tls = threading.local()
        self._threads: list[threading.Thread] = []
        self._n_threads = threads
        self._idle = 0
        self.actors: dict[int, Actor] = {}
        self.names: dict[str, Actor] = {}
        self.exited: dict[int, ExitReason] = {}
        self.registry_lock = threading.Lock()
        self.calls: dict[int, Waiter] = {}
        # host-side monitors: ref -> callback(reason), called on the Trio thread
        self.host_monitors: dict[int, Callable[[ExitReason], None]] = {}
        self._refs = itertools.count(1)
        self._ids = itertools.count(1)
        self.closing = False
        # Authorizes guests' sends, calls, spawns and names; None: no gate.
        self.gate: ProcessGate | None = None

    # -- threads -----------------------------------------------------------
    def start(self) -> None:
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

    def _run(self) -> None:
        local: deque[Actor] = deque()
        self._tls.local = local
        self._tls.depth = 0
        deferred: list[Callable[[], None]] = []
        self.host._post_tls.deferred = deferred
        flush = self.host._flush_deferred
        get = self._global.get
        while True:
            if local:
                actor = local.popleft()
            else:
                self._idle += 1
                item = get()
                self._idle -= 1
                if item is None:
                    return
                actor = item
            try:
                self._activate(actor)
            except BaseException:  # a bug here must not kill the thread silently
                log.exception("scheduler: activation of %s failed", actor.pid)
                self._exit(actor, ExitReason("host-error", "scheduler failure; see host log"))
            if deferred:
                flush(deferred)

    def _schedule(self, actor: Actor) -> None:
        """Put a QUEUED actor on a run queue (caller holds its lock)."""
        local: deque[Actor] | None = getattr(self._tls, "local", None)
        if local is None or (local and self._idle):
            self._global.put(actor)
        else:
            local.append(actor)

    def on_scheduler_thread(self) -> bool:
        return getattr(self._tls, "local", None) is not None

    # -- lookup --------------------------------------------------------------
    def new_actor(self, component: CompiledComponent, init_args: bytes) -> Actor:
        actor = Actor(next(self._ids), component, init_args)
        with self.registry_lock:
            self.actors[actor.id] = actor
        return actor

    def lookup(self, pid: int) -> Actor | None:
        return self.actors.get(pid)

    # -- spawning --------------------------------------------------------------
    def instantiate(self, actor: Actor) -> str | None:
        """Build the actor's instance and run its ``init``, on this thread.
        Returns None on success or the reason the spawn failed."""
        cfg = self.cfg
        try:
            # A fresh Store + instance; every limit is armed before any guest
            # code (start functions included) runs.
            inst = Instance(
                self.host.engine,
                actor.component,
                limits=self._limits,
                fuel=cfg.fuel,
                deadline=time.monotonic() + cfg.activation_timeout,
                host_call_budget=cfg.host_call_budget,
                stdio=self.host.stdio_for(actor),
                owner=actor,
            )
        except GuestFault as fault:
            return f"instantiation failed ({fault.kind}): {fault.detail}"
        actor.instance = inst
        try:
            error = inst.init(actor.init_args, cfg.fuel, time.monotonic() + cfg.activation_timeout)
        except GuestFault as fault:
            inst.drop()
            actor.instance = None
            return f"init failed ({fault.kind}): {fault.detail}"
        if error is not None:
            inst.drop()
            actor.instance = None
            return f"init returned an error: {error}"
        return None

    def finish_spawn(self, actor: Actor, error: str | None) -> None:
        """Move a SPAWNING actor to IDLE/QUEUED (or EXITED if init failed)."""
        if error is not None:
            self._exit(actor, actor.reason or ExitReason("error", error), run_terminate=False)
            return
        with actor.lock:
            pending_kill = actor.reason is not None  # killed while spawning
            if not pending_kill:
                if actor.mailbox or actor.stop_reason is not None:
                    actor.state = QUEUED
                    self._schedule(actor)
                else:
                    actor.state = IDLE
        if pending_kill:
            self._exit(actor, actor.reason or KILLED, run_terminate=False)

    # -- the activation ------------------------------------------------------
    def _activate(self, actor: Actor) -> None:
        if actor.state == SPAWNING:
            error = "killed before it started" if actor.reason else self.instantiate(actor)
            waiter = actor.spawn_waiter
            actor.spawn_waiter = None
            self.finish_spawn(actor, error)
            if waiter is not None:
                waiter(error)
            return
        with actor.lock:
            if actor.state != QUEUED:
                return
            actor.state = RUNNING
            stopping = actor.stop_reason is not None or actor.reason is not None
            if not stopping:
                mb = actor.mailbox
                n = min(len(mb), self.cfg.batch_size)
                batch = b"".join([mb.popleft() for _ in range(n)])
        if stopping:  # asked to stop or killed: no more deliveries
            reason = actor.reason or actor.stop_reason
            assert reason is not None
            self._exit(actor, reason, run_terminate=actor.reason is None)
            return
        inst = actor.instance
        assert inst is not None
        try:
            out = inst.deliver(
                batch,
                self.cfg.fuel,
                time.monotonic() + self.cfg.activation_timeout,
            )
        except GuestFault as fault:
            pending = actor.reason if fault.kind == "killed" else None
            self._exit(actor, pending or ExitReason(fault.kind, fault.detail))
            return
        if out:
            self._route(actor, out)
        with actor.lock:
            if actor.reason is None and actor.stop_reason is None:
                if actor.mailbox:
                    actor.state = QUEUED
                    self._schedule(actor)
                else:
                    actor.state = IDLE
                return
        reason = actor.reason or actor.stop_reason
        assert reason is not None
        self._exit(actor, reason, run_terminate=actor.reason is None)

    def _route(self, actor: Actor, out: bytes) -> None:
        """Carry out an outbox: sends, replies, spawns, a stop request."""
        i, n = 0, len(out)
        me = actor.id
        max_size = self.cfg.max_message_size
        actors = self.actors
        gate = self.gate
        while i < n:
            if n - i < _HEADER:
                self._protocol_error(actor, "truncated frame header in outbox")
                return
            if _HEX40(out, i + 1, i + _HEADER) is None:
                self._protocol_error(actor, f"malformed frame header at byte {i}")
                return
            pid = int(out[i + 1 : i + 17], 16)
            ref = int(out[i + 17 : i + 33], 16)
            length = int(out[i + 33 : i + _HEADER], 16)
            end = i + _HEADER + length
            if end > n:
                self._protocol_error(actor, f"frame at byte {i} overruns the outbox")
                return
            # The outbox as a whole is valid UTF-8 (wasmtime checked it), so a
            # slice is valid iff neither boundary splits a character. A split
            # payload would reach another guest as an invalid `string`.
            if (length and out[i + _HEADER] & 0xC0 == 0x80) or (
                end < n and out[end] & 0xC0 == 0x80
            ):
                self._protocol_error(actor, f"frame at byte {i} splits a UTF-8 character")
                return
            kind = out[i]
            if kind == 115:  # 's' send
                if length > max_size:
                    self._undeliverable(actor, pid, ref, "too-large")
                else:
                    target = actors.get(pid)
                    if target is None:
                        self._undeliverable(actor, pid, ref, "noproc")
                    elif gate is not None and gate.check_send(actor, target, length) is not None:
                        self._undeliverable(actor, pid, ref, "denied")
                    elif not self._push(target, b"c%016x0000000000000000" % me + out[i + 33 : end]):
                        self._undeliverable(actor, pid, ref, "mailbox-full")
            elif kind == 114:  # 'r' reply
                waiter = self.calls.pop(ref, None)
                if waiter is not None:
                    target = actors.get(waiter.target)
                    if target is not None:
                        target.calls.discard(ref)
                    waiter.resolve(out[i + _HEADER : end])
            elif kind == 110:  # 'n' spawn
                self._outbox_spawn(actor, ref, out[i + _HEADER : end])
            elif kind == 120:  # 'x' stop
                text = out[i + _HEADER : end].decode(errors="replace")
                actor.stop_reason = (
                    NORMAL
                    if text == "normal"
                    else ExitReason("shutdown")
                    if text == "shutdown"
                    else ExitReason("error", text)
                )
            else:
                self._protocol_error(actor, f"unknown outbox frame kind {chr(kind)!r}")
                return
            i = end

    def _protocol_error(self, actor: Actor, what: str) -> None:
        actor.stop_reason = ExitReason("error", f"protocol violation: {what}")

    def _undeliverable(self, actor: Actor, pid: int, ref: int, why: str) -> None:
        self._push(actor, frame(b"u", pid, ref, why.encode()), system=True)

    def _outbox_spawn(self, actor: Actor, tag: int, payload: bytes) -> None:
        comp_name, _, args = payload.partition(b"\n")
        ok, value = self._spawn_for(actor, comp_name.decode(errors="replace"), args)
        if ok:
            self._push(actor, frame(b"p", int(value), tag, b""), system=True)
        else:
            self._push(actor, frame(b"p", 0, tag, str(value).encode()), system=True)

    # -- enqueueing --------------------------------------------------------
    def _push(self, target: Actor, data: bytes, *, system: bool = False) -> bool:
        """Append a frame; False if the mailbox is full. System frames (errors
        reported back to the sender) are never refused."""
        with target.lock:
            state = target.state
            if state == EXITED:
                return False
            mb = target.mailbox
            if not system and len(mb) >= self.cfg.mailbox_capacity:
                return False
            mb.append(data)
            if state == IDLE:
                target.state = QUEUED
                self._schedule(target)
        return True

    def _host_target(self, pid: int, payload: bytes) -> Actor:
        """The live target of a host-side send or call, after the size check."""
        if len(payload) > self.cfg.max_message_size:
            raise MessageTooLarge(
                f"message of {len(payload)} bytes exceeds max_message_size "
                f"({self.cfg.max_message_size}); nothing was sent"
            )
        target = self.actors.get(pid)
        if target is None:
            raise NoProc(f"{Pid(pid)} is not alive")
        return target

    def _refusal(self, target: Actor) -> Exception:
        """Why ``_push`` refused a frame: the target died, or its mailbox is full."""
        if target.state == EXITED:
            return NoProc(f"{target.pid} is not alive")
        return MailboxFull(target.pid, self.cfg.mailbox_capacity)

    def send(self, pid: int, sender: int, payload: bytes) -> None:
        """Host-side cast; raises :class:`MailboxFull`, :class:`NoProc` or
        :class:`MessageTooLarge`."""
        target = self._host_target(pid, payload)
        if not self._push(target, frame(b"c", sender, 0, payload)):
            raise self._refusal(target)

    def start_call(self, pid: int, sender: int, payload: bytes, waiter: Waiter) -> int:
        """Enqueue a call frame; the reply resolves ``waiter``. Raises like
        :meth:`send`."""
        target = self._host_target(pid, payload)
        ref = next(self._refs)
        self.calls[ref] = waiter
        target.calls.add(ref)
        if not self._push(target, frame(b"q", sender, ref, payload)):
            self.calls.pop(ref, None)
            target.calls.discard(ref)
            raise self._refusal(target)
        # The target may have exited between lookup and push.
        if target.state == EXITED and self.calls.pop(ref, None) is not None:
            waiter.resolve(None, ("exited", str(target.reason)))
        return ref

    def cancel_call(self, ref: int) -> None:
        waiter = self.calls.pop(ref, None)
        if waiter is not None:
            target = self.actors.get(waiter.target)
            if target is not None:
                target.calls.discard(ref)

    # -- exits -----------------------------------------------------------------
    def kill(self, actor: Actor, reason: ExitReason = KILLED) -> None:
        """Untrappable kill from any thread: a running guest traps at the next
        epoch tick; an idle or queued one exits now."""
        with actor.lock:
            state = actor.state
            if state == EXITED:
                return
            if actor.reason is None:
                actor.reason = reason  # pending until the owning thread sees it
            if actor.instance is not None:
                actor.instance.kill()
            if state in (RUNNING, SPAWNING):
                return  # the thread running it traps it at the next epoch tick
        self._exit(actor, reason, run_terminate=False)

    def request_stop(self, actor: Actor, reason: ExitReason) -> None:
        """Graceful stop: ``terminate(reason)`` runs on a scheduler thread."""
        with actor.lock:
            if actor.state == EXITED:
                return
            actor.stop_reason = reason
            if actor.state == IDLE:
                actor.state = QUEUED
                self._schedule(actor)

    def _exit(self, actor: Actor, reason: ExitReason, *, run_terminate: bool = False) -> None:
        with actor.lock:
            if actor.state == EXITED:
                return
            actor.state = EXITED
            actor.reason = reason
            inst = actor.instance
            actor.instance = None
            dropped = list(actor.mailbox)
            actor.mailbox.clear()
        if inst is not None:
            if run_terminate and self.on_scheduler_thread():
                with contextlib.suppress(GuestFault):
                    inst.terminate(
                        str(reason),
                        self.cfg.fuel,
                        time.monotonic() + self.cfg.activation_timeout,
                    )
            inst.drop()
        with self.registry_lock:
            self.actors.pop(actor.id, None)
            if actor.name is not None and self.names.get(actor.name) is actor:
                del self.names[actor.name]
            self.exited[actor.id] = reason
            if len(self.exited) > self.cfg.exit_history:
                self.exited.pop(next(iter(self.exited)))
        detail = str(reason)
        for ref in list(actor.calls):
            waiter = self.calls.pop(ref, None)
            if waiter is not None:
                waiter.resolve(None, ("exited", detail))
        actor.calls.clear()
        if dropped:
            self._bounce(actor, dropped, detail)
        self._propagate(actor, reason)
        self.host.actor_exited(actor, reason)

    # -- links, monitors, exit signals (Erlang's rules) -------------------------
    def _propagate(self, actor: Actor, reason: ExitReason) -> None:
        """Tell links and monitors that ``actor`` exited with ``reason``."""
        with actor.lock:
            links, actor.links = actor.links, set()
            watchers, actor.monitored_by = actor.monitored_by, {}
            mine, actor.monitoring = actor.monitoring, {}
        payload = str(reason).encode()
        for ref, target_id in mine.items():  # monitors this actor held die with it
            target = self.actors.get(target_id)
            if target is not None:
                with target.lock:
                    target.monitored_by.pop(ref, None)
        for ref, watcher_id in watchers.items():
            self._down(watcher_id, ref, actor.id, reason, payload)
        for other_id in links:
            other = self.actors.get(other_id)
            if other is not None:
                with other.lock:
                    other.links.discard(actor.id)
                self.exit_signal(other, actor.id, reason)

    def _down(
        self, watcher_id: int, ref: int, pid: int, reason: ExitReason, payload: bytes
    ) -> None:
        if watcher_id == 0:
            callback = self.host_monitors.pop(ref, None)
            if callback is not None:
                self.host._post(lambda: callback(reason))
            return
        watcher = self.actors.get(watcher_id)
        if watcher is not None:
            with watcher.lock:
                watcher.monitoring.pop(ref, None)
            self._push(watcher, frame(b"d", pid, ref, payload), system=True)

    def exit_signal(
        self, target: Actor, sender: int, reason: ExitReason, *, untrappable: bool = False
    ) -> None:
        """Deliver an exit signal: ``untrappable`` (a kill) ends the target as
        ``killed``; a trapping target gets an ``e`` frame; otherwise a normal
        reason is ignored and any other reason ends the target with it."""
        if untrappable:
            self.kill(target, KILLED)
        elif target.trap_exit:
            self._push(target, frame(b"e", sender, 0, str(reason).encode()), system=True)
        elif not reason.is_normal or (reason.kind == "shutdown" and sender == 0):
            self.kill(target, reason)

    def link(self, actor: Actor, other_id: int) -> bool:
        """Link ``actor`` and ``other_id``; False if the other is not alive."""
        if other_id == actor.id:
            return True
        other = self.actors.get(other_id)
        if other is None or other.state == EXITED:
            return False
        with actor.lock:
            actor.links.add(other_id)
        with other.lock:
            if other.state == EXITED:
                alive = False
            else:
                other.links.add(actor.id)
                alive = True
        if not alive:
            with actor.lock:
                actor.links.discard(other_id)
        return alive

    def unlink(self, actor: Actor, other_id: int) -> None:
        with actor.lock:
            actor.links.discard(other_id)
        other = self.actors.get(other_id)
        if other is not None:
            with other.lock:
                other.links.discard(actor.id)

    def monitor(
        self, watcher_id: int, target_id: int, on_down: Callable[[ExitReason], None] | None = None
    ) -> int:
        """Monitor ``target_id`` for ``watcher_id`` (0 = the host, which
        passes ``on_down``). A dead target yields DOWN ``noproc`` at once."""
        ref = next(self._refs)
        if watcher_id == 0:
            assert on_down is not None
            self.host_monitors[ref] = on_down
        target = self.actors.get(target_id)
        registered = False
        if target is not None:
            with target.lock:
                if target.state != EXITED:
                    target.monitored_by[ref] = watcher_id
                    registered = True
        if registered:
            if watcher_id:
                watcher = self.actors.get(watcher_id)
                if watcher is not None:
                    with watcher.lock:
                        watcher.monitoring[ref] = target_id
        else:
            noproc = ExitReason("noproc")
            self._down(watcher_id, ref, target_id, noproc, b"noproc")
        return ref

    def demonitor(self, watcher_id: int, ref: int, flush: bool) -> bool:
        target_id: int | None
        if watcher_id == 0:
            active = self.host_monitors.pop(ref, None) is not None
            target_id = None
        else:
            watcher = self.actors.get(watcher_id)
            target_id = None
            if watcher is not None:
                with watcher.lock:
                    target_id = watcher.monitoring.pop(ref, None)
                    if flush:
                        tag = b"d"
                        key = b"%016x" % ref
                        kept = [
                            f for f in watcher.mailbox if not (f[:1] == tag and f[17:33] == key)
                        ]
                        if len(kept) != len(watcher.mailbox):
                            watcher.mailbox.clear()
                            watcher.mailbox.extend(kept)
            active = target_id is not None
        for actor in [self.actors.get(target_id)] if target_id is not None else []:
            if actor is not None:
                with actor.lock:
                    actor.monitored_by.pop(ref, None)
        if watcher_id == 0:
            for actor in list(self.actors.values()):
                if ref in actor.monitored_by:
                    with actor.lock:
                        actor.monitored_by.pop(ref, None)
        return active

    def _bounce(self, actor: Actor, frames: list[bytes], detail: str) -> None:
        """Calls still in a dead actor's mailbox fail now instead of timing out."""
        for f in frames:
            if f[:1] == b"q":
                ref = int(f[17:33], 16)
                waiter = self.calls.pop(ref, None)
                if waiter is not None:
                    waiter.resolve(None, ("exited", detail))

    # -- ProcessApi: the guest's synchronous imports ---------------------------
    def _me(self, inst: Instance) -> Actor:
        owner = inst.owner
        assert isinstance(owner, Actor)
        return owner

    def proc_self(self, inst: Instance) -> int:
        return self._me(inst).id

    def proc_spawn(self, inst: Instance, component: str, args: bytes) -> tuple[bool, int | str]:
        return self._spawn_for(self._me(inst), component, args)

    def _spawn_for(self, parent: Actor, component: str, args: bytes) -> tuple[bool, int | str]:
        gate = self.gate
        if gate is not None:
            comp = self.host.components.get(component)
            if comp is not None:
                why = gate.check_spawn(parent, comp, len(args))
                if why is not None:
                    return False, f"denied: {why}"
        return self.proc_spawn_named(component, args)

    def proc_spawn_named(self, component: str, args: bytes) -> tuple[bool, int | str]:
        comp = self.host.components.get(component)
        if comp is None:
            return False, f"no component named {component!r} is loaded"
        if self.closing:
            return False, "host is closing"
        child = self.new_actor(comp, args)
        error = self.instantiate(child)
        self.finish_spawn(child, error)
        if error is not None:
            return False, error
        self.host.actor_spawned(child)
        return True, child.id

    def proc_send(self, inst: Instance, to: int, payload: bytes) -> str | None:
        if len(payload) > self.cfg.max_message_size:
            return "too-large"
        target = self.actors.get(to)
        if target is None:
            return "noproc"
        me = self._me(inst)
        if self.gate is not None and self.gate.check_send(me, target, len(payload)) is not None:
            return "denied"
        if not self._push(target, frame(b"c", me.id, 0, payload)):
            return "noproc" if target.state == EXITED else "mailbox-full"
        return None

    def proc_call(
        self, inst: Instance, to: int, payload: bytes, timeout_ms: int
    ) -> tuple[bool, bytes | tuple[str, str | None]]:
        me = self._me(inst)
        if to == me.id:
            return False, ("deadlock", None)
        gate = self.gate
        if gate is not None:
            target = self.actors.get(to)
            if target is not None and gate.check_call(me, target, len(payload), timeout_ms):
                return False, ("send", "denied")
        waiter = Waiter(to)
        try:
            ref = self.start_call(to, me.id, payload, waiter)
        except NoProc:
            return False, ("send", "noproc")
        except MailboxFull:
            return False, ("send", "mailbox-full")
        except MessageTooLarge:
            return False, ("send", "too-large")
        deadline = min(time.monotonic() + timeout_ms / 1000, inst.guard.deadline)
        self._wait_helping(waiter, deadline, inst)
        if not waiter.done:
            self.cancel_call(ref)
            if inst.guard.killed:
                return False, ("exited", "killed")
            return False, ("timeout", None)
        if waiter.error is not None:
            return False, waiter.error
        assert waiter.value is not None
        return True, waiter.value

    def _wait_helping(self, waiter: Waiter, deadline: float, inst: Instance) -> None:
        """Wait for a reply, running this thread's other ready actors meanwhile
        (the callee is often one of them: waiting idle would deadlock)."""
        local: deque[Actor] = self._tls.local
        event = waiter.event
        assert event is not None
        depth = self._tls.depth
        while not waiter.done and not inst.guard.killed:
            now = time.monotonic()
            if now >= deadline:
                return
            if local and depth < 8:
                self._tls.depth = depth + 1
                try:
                    self._activate(local.popleft())
                finally:
                    self._tls.depth = depth
                continue
            event.wait(min(deadline - now, 0.005))

    def proc_link(self, inst: Instance, other: int) -> str | None:
        return None if self.link(self._me(inst), other) else "noproc"

    def proc_unlink(self, inst: Instance, other: int) -> None:
        self.unlink(self._me(inst), other)

    def proc_monitor(self, inst: Instance, target: int) -> int:
        return self.monitor(self._me(inst).id, target)

    def proc_demonitor(self, inst: Instance, ref: int, flush: bool) -> bool:
        return self.demonitor(self._me(inst).id, ref, flush)

    def proc_trap_exits(self, inst: Instance, on: bool) -> bool:
        me = self._me(inst)
        previous, me.trap_exit = me.trap_exit, on
        return previous

    def proc_register(self, inst: Instance, name: str) -> str | None:
        me = self._me(inst)
        if self.gate is not None:
            why = self.gate.check_name(me, "register", name)
            if why is not None:
                return f"denied: {why}"
        return self.register(me, name)

    def register(self, actor: Actor, name: str) -> str | None:
        if not name or len(name) > 255:
            return "a name must be 1 to 255 characters"
        with self.registry_lock:
            if actor.state == EXITED:
                return "actor is not alive"
            holder = self.names.get(name)
            if holder is not None and holder is not actor:
                return f"name {name!r} is already registered to {holder.pid}"
            if actor.name is not None and actor.name != name:
                return f"actor already registered as {actor.name!r}"
            self.names[name] = actor
            actor.name = name
        return None

    def proc_whereis(self, inst: Instance, name: str) -> int | None:
        if self.gate is not None and self.gate.check_name(self._me(inst), "whereis", name):
            return None
        actor = self.names.get(name)
        return actor.id if actor is not None else None

    def proc_log(self, inst: Instance, level: str, message: str) -> None:
        me = self._me(inst)
        lvl = {"trace": 5, "debug": 10, "info": 20, "warn": 30, "error": 40}.get(level, 20)
        log.log(lvl, "[%s %s] %s", me.pid, me.name or me.component.name, message[:4096])


def describe(actor: Actor) -> dict[str, Any]:
    return {
        "pid": actor.pid,
        "component": actor.component.name,
        "name": actor.name,
        "state": actor.state_name,
        "mailbox": len(actor.mailbox),
    }
