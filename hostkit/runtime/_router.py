"""The router: the one path every signal between actors takes.

Theory of operation
-------------------
A *signal* is anything one party does to another: a cast (``c``), a call
(``q``) and its reply (``r``), a spawn request, a link, a monitor, an exit
signal, a DOWN. It comes from one of four *sources* -- host code (the
``Host`` API), a guest's synchronous ``process`` import, a guest's outbox,
and (later) a remote node -- and every source hands it to this module.
Routing one signal is always the same steps, in this order:

1. **resolve** the target pid: an actor of this node (``node`` and
   ``creation`` match, or a bare id), the host (id 0), or another node. A
   pid of another node goes to the :class:`RemoteDelivery` seam; with none
   attached it is ``noproc`` (and a monitor on it gets DOWN
   ``noconnection``). A pid of an earlier boot of this node is ``noproc``.
   A guest names pids as a ``u64`` (the WIT ``pid``): the high 16 bits are
   a *node slot* (0: this node), decoded by the :class:`PidResolver` that
   federation attaches next to the seam (:meth:`resolve`). Without one, or
   for a slot it never handed out, a non-zero slot names nothing
   (``noproc``) -- never a local actor.
2. **check** it: the payload size, then the capability gate
   (:class:`ProcessGate`, decided and audited in ``hostkit.capabilities``)
   for a guest sender -- for another node's pid too (``check_remote_*``:
   the sending side's decision; the receiving node decides again). Host
   code is trusted and not gated.
3. **bound** it: the target's mailbox in frames *and* bytes, and the host's
   byte budget over all mailboxes. Ordinary frames past a bound are refused
   (``mailbox-full``, nothing enqueued). *System* frames -- ``u``, ``p``,
   ``d``, ``e``, the host's answers to what an actor did -- may use a
   reserve above the mailbox bounds; an actor whose reserve is full too has
   produced them faster than it reads them, and it is ended with reason
   ``limit`` instead of growing.
4. **push** the frame and make the target runnable.

Every failure maps onto one vocabulary, the WIT ``send-error`` names:
``noproc``, ``mailbox-full``, ``too-large``, ``denied``. Host code gets the
matching exception (:func:`refusal`), a guest's import gets the WIT value,
an outbox frame gets a ``u`` frame back.

Replies. A call's ref is drawn here: 32 bits from the OS's CSPRNG over the
low 32 bits of the callee's id. The waiter remembers its callee, and an
``r`` frame is accepted only from the callee of a call still pending (so a
ref that leaked or was guessed is useless to anyone else). A reply whose ref
carries the sender's own id but matches no pending call is late (the call
timed out or was cancelled) and is dropped quietly; any other ref is a
forged or guessed reply to someone else's call, a protocol violation that
ends the sender (audited with its pid).

Outboxes. One activation's outbox is capped in bytes (checked before
anything in it is routed) and in frames (counted while routing: the frames
before the cap are routed, then the actor ends with reason ``limit`` naming
the cap). Malformed frames end the actor with reason ``protocol``.

Timers. An outbox ``t`` (set) or ``k`` (cancel) frame is checked here for
its shape only, then handed to the Trio thread's timer heap (``_timers``),
which bounds it and, when it is due, pushes an ``i`` system frame back.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final, Protocol

from .._errors import CapabilityDenied, MailboxFull, MessageTooLarge, NoProc
from .._events import LimitReached, ProtocolViolation
from .._frames import FrameError, frame, iter_frames
from .._pid import NORMAL, SHUTDOWN, ExitReason, Pid
from ._actors import EXITED, IDLE, QUEUED, Actor, Waiter
from ._remote_types import LOCAL_ID_BITS, PidResolver, RemoteDelivery, Signal

if TYPE_CHECKING:
    from ._scheduler import Scheduler
    from ._wasm import CompiledComponent

NOPROC: Final = "noproc"
FULL: Final = "mailbox-full"
TOO_LARGE: Final = "too-large"
DENIED: Final = "denied"
# Budget refusals between two exact re-counts of the host's queued bytes.
_RESYNC_GAP: Final = 1024
# The callee id of a call that went to another node (no local actor has it).
REMOTE: Final = 0
# The longest delay a guest timer may ask for, in ms (as Erlang's send_after).
MAX_GUEST_DELAY_MS: Final = 2**32 - 1
# A reason or detail the host writes into a system frame is cut to this.
MAX_REASON_BYTES: Final = 1024


class ProcessGate(Protocol):
    """Authorizes what a guest does to other actors; the capability gate
    implements it. Each check returns None to allow, or why it is denied,
    and records its decision. Called on scheduler threads, on the hot path
    of every guest send."""

    def check_send(self, sender: Actor, target: Actor, size: int) -> str | None: ...

    def check_call(
        self, sender: Actor, target: Actor, size: int, timeout_ms: int
    ) -> str | None: ...

    def check_spawn(self, parent: Actor, component: CompiledComponent, size: int) -> str | None: ...

    def check_name(self, actor: Actor, action: str, name: str) -> str | None: ...

    def check_link(self, actor: Actor, target: Actor) -> str | None: ...

    def check_monitor(self, actor: Actor, target: Actor) -> str | None: ...

    def check_log(self, actor: Actor, level: str, size: int) -> str | None: ...

    # A guest's signal to another node's actor: the sending side's decision
    # (the receiving node decides again with the sender's node as principal).

    def check_remote_send(self, sender: Actor, target: Pid, size: int) -> str | None: ...

    def check_remote_call(
        self, sender: Actor, target: Pid, size: int, timeout_ms: int
    ) -> str | None: ...

    def check_remote_link(self, actor: Actor, target: Pid) -> str | None: ...

    def check_remote_monitor(self, actor: Actor, target: Pid) -> str | None: ...


def refusal(code: str, target: Pid | int, router: Router) -> Exception:
    """The host-API exception for a send-error name."""
    pid = target if isinstance(target, Pid) else router.registry.pid(target)
    if code == FULL:
        return MailboxFull(pid, router.capacity)
    if code == TOO_LARGE:
        return MessageTooLarge(
            f"message exceeds max_message_size ({router.max_size} bytes); nothing was sent"
        )
    if code == DENIED:  # host code is not gated: only another node refuses it
        return CapabilityDenied(f"{pid}: its node refused the signal")
    if isinstance(target, Pid) and not router.is_local(target):
        return NoProc(
            f"{pid} is on node {target.node!r} (creation {target.creation}), which this host "
            f"cannot reach: {router.remote_why(target)}"
        )
    return NoProc(f"{pid} is not alive")


class Router:
    """Resolve, check, bound and push every signal (see the module doc)."""

    def __init__(self, sched: Scheduler) -> None:
        cfg = sched.cfg
        self.sched = sched
        self.registry = sched.registry
        self.actors = sched.registry.actors
        self.node = sched.registry.node
        self.creation = sched.registry.creation
        self.max_size = cfg.max_message_size
        self.capacity = cfg.mailbox_capacity
        self.max_bytes = cfg.mailbox_max_bytes
        self.sys_capacity = cfg.mailbox_capacity + cfg.mailbox_system_reserve
        self.sys_bytes = cfg.mailbox_max_bytes + cfg.mailbox_system_reserve * (
            MAX_REASON_BYTES + 41
        )
        self.host_budget = cfg.host_mailbox_bytes
        self.outbox_frames = cfg.outbox_frames
        self.outbox_bytes = cfg.outbox_max_bytes
        self.host_bytes = 0  # bytes queued in all mailboxes (see _over_budget)
        self._refusals = _RESYNC_GAP  # the first refusal confirms with the exact sum
        self.calls: dict[int, Waiter] = {}
        self._rand = b""  # CSPRNG bytes for call refs, drawn 8 KiB at a time
        self._rand_at = 0
        self.gate: ProcessGate | None = None
        self.remote: RemoteDelivery | None = None
        self.resolver: PidResolver | None = None

    # -- 1. resolve --------------------------------------------------------------
    def is_local(self, pid: Pid) -> bool:
        return not pid.node or (pid.node == self.node and pid.creation == self.creation)

    def remote_why(self, pid: Pid) -> str:
        if pid.node == self.node:
            return "the pid is from an earlier boot of this node"
        if self.remote is None:
            return "no federation is attached to this host"
        return "the node is not connected"

    def local_id(self, pid: Pid | int) -> int | None:
        """The local actor id ``pid`` names, or None for another node's pid."""
        if type(pid) is int:
            return pid
        if isinstance(pid, Pid):
            return pid.id if self.is_local(pid) else None
        return int(pid)

    def resolve(self, to: Pid | int) -> int | Pid | None:
        """The local actor id ``to`` names (an int), another node's
        :class:`Pid`, or None when it names nothing (a guest ``u64`` whose
        node slot no attached :class:`PidResolver` knows)."""
        if isinstance(to, Pid):
            return to.id if self.is_local(to) else to
        wire = int(to)
        if not wire >> LOCAL_ID_BITS:
            return wire
        resolver = self.resolver
        if resolver is None:
            return None
        pid = resolver.guest_pid(wire)
        if pid is None or self.is_local(pid):
            return None  # a slot never decodes to a local actor
        return pid

    def guest_wire(self, pid: Pid) -> int:
        """The ``u64`` a guest sees for ``pid`` (its id when local)."""
        if self.is_local(pid):
            return pid.id
        resolver = self.resolver
        return 0 if resolver is None else resolver.guest_wire(pid)

    def to_remote(self, signal: Signal) -> str:
        """Hand a signal for another node to federation; a send-error name
        or ``""`` once handed over."""
        remote = self.remote
        if remote is None or signal.target.node == self.node:
            return NOPROC
        return remote.route(signal) or ""

    def remote_signal(
        self,
        sender: Actor | None,
        kind: str,
        target: Pid,
        payload: bytes = b"",
        ref: int = 0,
        timeout_ms: int = 0,
        *,
        gated: bool = True,
    ) -> str:
        """A signal from host code (``sender`` None, or ``gated=False`` for
        what host code does on an actor's behalf) or a guest (decided by the
        gate's ``check_remote_*``) to another node's actor: ``""`` once
        handed to federation, else the send-error name."""
        gate = self.gate
        if gated and sender is not None and gate is not None:
            if kind == "send":
                why = gate.check_remote_send(sender, target, len(payload))
            elif kind == "call":
                why = gate.check_remote_call(sender, target, len(payload), timeout_ms)
            elif kind == "link":
                why = gate.check_remote_link(sender, target)
            elif kind == "monitor":
                why = gate.check_remote_monitor(sender, target)
            else:  # unlink, demonitor: undoing what was allowed
                why = None
            if why is not None:
                return DENIED
        return self.to_remote(Signal(kind, self._pid_of(sender), target, ref, payload, timeout_ms))

    def _send_wire(self, sender: Actor | None, wire: int, payload: bytes) -> str | None:
        """A cast to a ``u64`` with a node slot (the rare path of `send`)."""
        target = self.resolve(wire)
        if not isinstance(target, Pid):
            return NOPROC
        return self.remote_signal(sender, "send", target, payload) or None

    # -- 3 + 4. bound and push ----------------------------------------------------
    def push(
        self, target: Actor, data: bytes, *, system: bool = False, urgent: bool = False
    ) -> str | None:
        """Append a frame within the bounds; None, or the send-error name.
        A system frame, or an ``urgent`` one (a call), makes the target
        runnable ahead of bulk work (see ``_scheduler``)."""
        size = len(data)
        with target.lock:
            state = target.state
            if state == EXITED:
                return NOPROC
            mb = target.mailbox
            nbytes = target.mailbox_bytes + size
            if system:
                if len(mb) >= self.sys_capacity or nbytes > self.sys_bytes:
                    state = EXITED  # overflow: handled below, outside the lock
            elif (
                len(mb) >= self.capacity
                or nbytes > self.max_bytes
                or (self.host_bytes + size > self.host_budget and self._over_budget(size))
            ):
                return FULL
            if state != EXITED:
                self.host_bytes += size
                mb.append(data)
                target.mailbox_bytes = nbytes
                if state == IDLE:
                    target.state = QUEUED
                    self.sched.schedule(target, system or urgent)
                elif (system or urgent) and state == QUEUED and self.sched.priority:
                    self.sched.schedule(target, True)
                return None
        self.overflowed(target)
        return FULL

    def _over_budget(self, size: int) -> bool:
        # The running count says the host budget is spent. It is kept without
        # a lock (a lock costs a fifth of a send); in CPython an int `+=` on
        # an attribute is not interrupted by a thread switch, but confirm
        # with the exact sum before refusing -- at most once per
        # _RESYNC_GAP refusals, so a flood against a full host stays cheap.
        self._refusals += 1
        if self._refusals >= _RESYNC_GAP:
            self._refusals = 0
            self.host_bytes = self.queued_bytes()
        return self.host_bytes + size > self.host_budget

    def queued_bytes(self) -> int:
        """The exact bytes in all mailboxes (a sum over live actors)."""
        return sum([a.mailbox_bytes for a in list(self.actors.values())])

    def overflowed(self, target: Actor) -> None:
        if target.reason is not None:
            return  # already ending: one record, not one per refused frame
        detail = (
            f"mailbox cannot take a system frame: {len(target.mailbox)} frames, "
            f"{target.mailbox_bytes} bytes (mailbox_capacity {self.capacity} + "
            f"mailbox_system_reserve; mailbox_max_bytes {self.max_bytes})"
        )
        self.sched.publish(LimitReached(target.pid, target.plugin, detail))
        self.sched.kill(target, ExitReason("limit", detail))

    def take(self, actor: Actor, n: int) -> bytes:
        """Pop up to ``n`` frames as one batch (caller holds the actor's lock)."""
        mb = actor.mailbox
        if len(mb) <= n:
            batch = b"".join(mb)
            mb.clear()
        else:
            batch = b"".join([mb.popleft() for _ in range(n)])
        size = len(batch)
        actor.mailbox_bytes -= size
        self.host_bytes -= size
        return batch

    def drain(self, actor: Actor) -> list[bytes]:
        """Empty a dead actor's mailbox (caller holds its lock)."""
        dropped = list(actor.mailbox)
        actor.mailbox.clear()
        size, actor.mailbox_bytes = actor.mailbox_bytes, 0
        self.host_bytes -= size
        return dropped

    # -- sends and calls -------------------------------------------------------------
    def send(self, sender: Actor | None, to: Pid | int, payload: bytes) -> str | None:
        """A cast from host code (``sender`` None) or a guest; None or the
        send-error name."""
        if len(payload) > self.max_size:
            return TOO_LARGE
        if type(to) is Pid:  # inline local_id: this is the hottest path
            if to.node and (to.creation != self.creation or to.node != self.node):
                return self.remote_signal(sender, "send", to, payload) or None
            aid = to.id
        else:
            aid = int(to)
            if aid >> LOCAL_ID_BITS:  # a node slot: another node's actor, or nothing
                return self._send_wire(sender, aid, payload)
        me = 0 if sender is None else sender.id
        target = self.actors.get(aid)
        if target is None:
            return NOPROC
        gate = self.gate
        if (
            sender is not None
            and gate is not None
            and gate.check_send(sender, target, len(payload)) is not None
        ):
            return DENIED
        return self.push(target, b"c%016x0000000000000000%08x" % (me, len(payload)) + payload)

    def _pid_of(self, actor: Actor | None) -> Pid:
        return actor.pid if actor is not None else self.registry.pid(0)

    def new_ref(self, callee: int) -> int:
        """A fresh call ref: 32 bits from the OS's CSPRNG over the low 32
        bits of the callee's id. Unguessable, unique among pending calls."""
        while True:
            i = self._rand_at
            if i >= len(self._rand):
                self._rand, i = os.urandom(8192), 0
            self._rand_at = i + 4
            high = int.from_bytes(self._rand[i : i + 4], "big")
            ref = (high << 32) | (callee & 0xFFFFFFFF)
            if high and ref not in self.calls:
                return ref

    @staticmethod
    def ref_issued_to(ref: int, callee: int) -> bool:
        """Whether ``ref`` has the shape of a ref drawn for ``callee``."""
        return ref >> 32 != 0 and ref & 0xFFFFFFFF == callee & 0xFFFFFFFF

    def start_call(
        self,
        sender: Actor | None,
        to: Pid | int,
        payload: bytes,
        waiter: Waiter,
        timeout_ms: int = 0,
        caller: int = 0,
    ) -> tuple[str | None, int]:
        """Enqueue a call; the reply resolves ``waiter``. Returns the
        send-error name (None when enqueued) and the call's ref. ``caller``
        is the pid the callee sees when ``sender`` is None (0, the host, or
        a remote caller's guest-visible ``u64``)."""
        if len(payload) > self.max_size:
            return TOO_LARGE, 0
        aid = self.resolve(to)
        if aid is None:
            return NOPROC, 0
        if isinstance(aid, Pid):
            return self._remote_call(sender, aid, payload, waiter, timeout_ms)
        target = self.actors.get(aid)
        if target is None:
            return NOPROC, 0
        gate = self.gate
        if (
            sender is not None
            and gate is not None
            and gate.check_call(sender, target, len(payload), timeout_ms) is not None
        ):
            return DENIED, 0
        ref = self.new_ref(target.id)
        self.calls[ref] = waiter
        target.calls.add(ref)
        code = self.push(
            target, frame(b"q", caller if sender is None else sender.id, ref, payload), urgent=True
        )
        if code is not None:
            self.calls.pop(ref, None)
            target.calls.discard(ref)
            return code, 0
        # The target may have exited between lookup and push.
        if target.state == EXITED and self.calls.pop(ref, None) is not None:
            waiter.resolve(None, ("exited", str(target.reason)))
        return None, ref

    def _remote_call(
        self, sender: Actor | None, to: Pid, payload: bytes, waiter: Waiter, timeout_ms: int
    ) -> tuple[str | None, int]:
        if self.remote is None or to.node == self.node:
            return NOPROC, 0
        waiter.target = REMOTE
        ref = self.new_ref(REMOTE)
        self.calls[ref] = waiter
        code = self.remote_signal(sender, "call", to, payload, ref, timeout_ms)
        if code:
            self.calls.pop(ref, None)
            return code, 0
        return None, ref

    def remote_reply(
        self, ref: int, payload: bytes | None, error: tuple[str, str | None] | None = None
    ) -> bool:
        """Federation's half of a remote call: resolve the call ``ref`` that
        went to another node. False if no such call is pending (late, or a
        ref that never went out through the seam)."""
        waiter = self.calls.get(ref)
        if waiter is None or waiter.target != REMOTE:
            return False
        self.calls.pop(ref, None)
        if error is not None and error[1] is None:  # a bare reason: as a guest's call-error
            why = error[0]
            error = ("send", why) if why in (NOPROC, FULL, TOO_LARGE, DENIED) else ("exited", why)
        waiter.resolve(payload, error)
        return True

    def cancel_call(self, ref: int) -> None:
        waiter = self.calls.pop(ref, None)
        if waiter is not None:
            target = self.actors.get(waiter.target)
            if target is not None:
                target.calls.discard(ref)

    def reply(self, actor: Actor, ref: int, payload: bytes) -> bool:
        """An ``r`` frame from ``actor``; False if it is a forgery."""
        if ref in actor.calls:
            actor.calls.discard(ref)
            waiter = self.calls.pop(ref, None)
            # equivalent mutant: dropping `waiter.target == actor.id` changes
            # nothing today -- a ref is in actor.calls only if start_call
            # delivered that call to this actor (refs carry the callee's id
            # bits, so no two callees share one); kept as defence in depth.
            if waiter is not None and waiter.target == actor.id:
                waiter.resolve(payload)
            return True
        # A late reply to a call that timed out or was cancelled is fine;
        # a ref that was never this actor's to answer is not.
        return self.ref_issued_to(ref, actor.id)

    def bounce(self, frames: list[bytes], detail: str) -> None:
        """Calls still in a dead actor's mailbox fail now instead of timing out."""
        for f in frames:
            if f[:1] == b"q":
                waiter = self.calls.pop(int(f[17:33], 16), None)
                if waiter is not None:
                    waiter.resolve(None, ("exited", detail))

    # -- the outbox ----------------------------------------------------------------
    def route_outbox(self, actor: Actor, out: bytes, routed: int = 0) -> tuple[bytes, int] | None:
        """Carry out one activation's outbox: sends, replies, spawns, a stop.

        Returns None when done, or (the rest of the outbox, frames routed so
        far) after an ``n`` frame whose child's ``init`` now runs as an
        activation of its own: the scheduler holds the spawner and routes
        the rest (passing ``routed``) once the spawn has reported, so what
        follows the spawn in the outbox happens after its ``p`` frame."""
        if len(out) > self.outbox_bytes:
            self.violation(
                actor,
                f"outbox of {len(out)} bytes exceeds outbox_max_bytes ({self.outbox_bytes}); "
                "nothing in it was routed",
                kind="limit",
            )
            return None
        cap = self.outbox_frames
        n = routed
        actors, gate, push, max_size = self.actors, self.gate, self.push, self.max_size
        prefix = actor.cast_prefix
        try:
            for kind, pid, ref, start, end in iter_frames(out):
                n += 1
                if n > cap:
                    self.violation(
                        actor,
                        f"outbox of one activation exceeds outbox_max_frames ({cap}); "
                        f"the first {cap} frames were routed",
                        kind="limit",
                    )
                    return None
                if kind == 115:  # 's' send: the cast path, inlined (hottest loop)
                    size = end - start
                    target = actors.get(pid)
                    if size > max_size:
                        code: str | None = TOO_LARGE
                    elif target is None:
                        code = (
                            self._send_wire(actor, pid, out[start:end])
                            if pid >> LOCAL_ID_BITS
                            else NOPROC
                        )
                    elif gate is not None and gate.check_send(actor, target, size) is not None:
                        code = DENIED
                    else:  # reuse the header's length field
                        code = push(target, prefix + out[start - 8 : end])
                    if code is not None:
                        push(actor, frame(b"u", pid, ref, code.encode()), system=True)
                elif kind == 114:  # 'r' reply
                    if not self.reply(actor, ref, out[start:end]):
                        self.violation(
                            actor, f"reply to call ref {ref:016x}, which it was never sent"
                        )
                        return None
                elif kind == 110:  # 'n' spawn
                    if self._outbox_spawn(actor, ref, out[start:end]):
                        return out[end:], n
                elif kind == 116:  # 't' timer
                    if not self._outbox_timer(actor, ref, out[start:end]):
                        return None
                elif kind == 107:  # 'k' cancel a timer
                    self._outbox_cancel_timer(actor, ref)
                elif kind == 120:  # 'x' stop
                    text = out[start:end].decode(errors="replace")[:MAX_REASON_BYTES]
                    actor.stop_reason = (
                        NORMAL
                        if text == "normal"
                        else SHUTDOWN
                        if text == "shutdown"
                        else ExitReason("error", text)
                    )
                else:
                    self.violation(actor, f"unknown outbox frame kind {chr(kind)!r}")
                    return None
        except FrameError as exc:
            self.violation(actor, str(exc))
        return None

    def violation(self, actor: Actor, what: str, *, kind: str = "protocol") -> None:
        """End ``actor`` after this activation for breaking the protocol or a cap."""
        detail = f"protocol violation: {what}" if kind == "protocol" else what
        self.sched.publish(ProtocolViolation(actor.pid, actor.plugin, detail))
        actor.stop_reason = None
        if actor.reason is None:
            actor.reason = ExitReason(kind, detail)

    def _outbox_timer(self, actor: Actor, tag: int, payload: bytes) -> bool:
        """A ``t`` frame: ``<delay ms>\\n<message>``, set on the Trio thread.
        False (after ending the actor) if the delay is malformed."""
        delay, nl, msg = payload.partition(b"\n")
        if not nl or not delay.isdigit() or len(delay) > 10 or int(delay) > MAX_GUEST_DELAY_MS:
            self.violation(
                actor,
                f"timer frame (tag {tag}) must start with a delay of 0..{MAX_GUEST_DELAY_MS} "
                "ms in decimal and a newline",
            )
            return False
        timers, ms = self.sched.timers, int(delay)
        self.sched.post(lambda: timers.guest_timer(actor, tag, ms, msg))
        return True

    def _outbox_cancel_timer(self, actor: Actor, tag: int) -> None:
        timers, aid = self.sched.timers, actor.id
        self.sched.post(lambda: timers.guest_cancel(aid, tag))

    def _outbox_spawn(self, actor: Actor, tag: int, payload: bytes) -> bool:
        """An ``n`` frame: the child's init runs as its own activation; its
        outcome reaches the spawner as a ``p`` frame when it ends. True when
        it runs (the rest of the outbox waits for it), False if refused."""
        comp_name, _, args = payload.partition(b"\n")
        sched = self.sched

        def report(ok: bool, value: int | str, spent: int) -> None:
            if ok:
                self.push(actor, frame(b"p", int(value), tag, b""), system=True)
            else:
                text = str(value).encode()[:MAX_REASON_BYTES].decode(errors="ignore").encode()
                self.push(actor, frame(b"p", 0, tag, text), system=True)

        def reported(ok: bool, value: int | str, spent: int) -> None:
            report(ok, value, spent)
            sched.outbox_spawn_reported(actor, spent)

        now = sched.spawn_child(actor, comp_name.decode(errors="replace"), args, reported)
        if isinstance(now, tuple):
            report(*now, 0)
            return False
        return True
