"""Joins a :class:`~hostkit.Host` to a :class:`Federation`: the router's
remote seam on one side, :class:`LocalNode` on the other.

Outbound, the router hands every signal for another node's pid to
:meth:`HostBridge.route` (``RemoteDelivery``), on any thread; the bridge
checks the link synchronously -- an unreachable node or a stale creation
is ``noproc``, a full send buffer ``mailbox-full`` -- and queues the signal
for the Trio thread, which carries the queue out in order in one wake-up.
Queued signals count against the link's ``send_buffer`` (with a fixed cost
per signal), so a guest flooding a remote node gets an error value at once:
never a blocked scheduler thread, never an unbounded queue, never a silent
drop. Guests name other nodes' actors by ``u64`` pids with a node slot in
the high 16 bits (:class:`PidSlots`); the bridge is the router's
``PidResolver``.

Inbound, the federation (after the peer's Cedar decision) calls the
bridge's ``LocalNode`` methods, which reach the host's actors only through
its public :class:`~hostkit.runtime._remote.RemotePort`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any, Final

import trio

from .._errors import FederationError, NoProc
from .._pid import Pid
from ._errors import FederationConfigError, NodeUnreachable, SendBufferFull
from ._identity import NodeId, PidSlots, RemotePid
from ._local import NOCONNECTION, NOPROC
from ._messages import Exit, Undeliverable
from ._policy import CedarPeerPolicy

if TYPE_CHECKING:
    from ..capabilities import Authorizer
    from ..runtime import Host
    from ..runtime._remote import RemotePort
    from ..runtime._remote_types import Signal
    from ._federation import Federation
    from ._guestapi import GuestRemote

log = logging.getLogger("hostkit.federation")

FULL: Final = "mailbox-full"
#: A call from a peer is cancelled after this long at most (its own timeout
#: if shorter), so a guest that never answers cannot pile up pending calls.
MAX_INBOUND_CALL_MS: Final = 60_000
_PRUNE_AT: Final = 4096
DENIED: Final = "denied"
#: What one queued signal costs against the link's send buffer besides its
#: payload (its frame header and bookkeeping), so empty payloads are bounded too.
SIGNAL_COST: Final = 64
#: Signals that undo something: never refused for a full buffer.
_CLEANUP: Final = frozenset({"unlink", "demonitor"})


class HostBridge:
    """The router's ``RemoteDelivery`` and ``PidResolver`` and the
    federation's ``LocalNode`` for one host.

    Made by :func:`open_host_federation`.
    """

    federation: Federation

    def __init__(self, host: Host) -> None:
        self.host = host
        self.closed = False
        self.slots = PidSlots()
        self.port: RemotePort = host.remote_port()
        self._token = trio.lowlevel.current_trio_token()
        self._thread = threading.get_ident()
        self._calls: dict[int, RemotePid] = {}  # our call ref -> the callee it went to
        # exits of remote actors linked to this host itself (pid 0)
        self._host_exits: dict[RemotePid, tuple[str, str]] = {}
        self._host_waiters: dict[RemotePid, Callable[[str, str], None]] = {}
        # signals from scheduler threads, waiting for the Trio thread
        self._lock = threading.Lock()
        self._queue: deque[tuple[Signal, int]] = deque()
        self._queued: dict[str, int] = {}  # node -> bytes queued for it
        self._scheduled = False
        # while peers' spawns wait in Host.spawn: the exits seen meanwhile, so
        # a new actor that ended before its pid was known reports its reason
        self._spawns_waiting = 0
        self._ended: dict[int, tuple[str, str]] = {}
        self._ended_lost = False  # _ended was full: an exit was not kept

    async def wait_host_link(self, remote: RemotePid) -> tuple[str, str]:
        """Wait for the exit signal of ``remote``, linked to this host itself
        (``Federation.spawn(..., link=True)`` with sender 0): its exit reason
        kind and detail (``noconnection`` if its node went away)."""
        found = self._host_exits.pop(remote, None)
        if found is not None:
            await trio.lowlevel.checkpoint()
            return found
        done = trio.Event()
        box: list[tuple[str, str]] = []

        def arrived(kind: str, detail: str) -> None:
            box.append((kind, detail))
            done.set()

        self._host_waiters[remote] = arrived
        try:
            await done.wait()
        finally:
            self._host_waiters.pop(remote, None)
        return box[0]

    # ------------------------------------------------ PidResolver (any thread)

    def guest_pid(self, wire: int) -> Pid | None:
        """The ``Pid`` a guest means by ``wire`` (a u64 with a node slot in the
        high 16 bits), or None if it names no node boot this host has seen."""
        try:
            decoded = self.slots.decode(wire)
        except FederationConfigError:
            return None
        if isinstance(decoded, int):
            return Pid(decoded, self.host.node, self.host.creation)
        return Pid(decoded.id, decoded.node, decoded.creation)

    def guest_wire(self, pid: Pid) -> int:
        """The ``u64`` a guest sees for another node's ``pid``; 0 (the host,
        which no guest can message) if it cannot be encoded (all 65,535
        slots used, or an id past 48 bits)."""
        try:
            return self.slots.encode(RemotePid(pid.node, pid.creation, pid.id))
        except FederationConfigError:
            return 0

    # ------------------------------------------------ outbound (any thread)

    def route(self, signal: Signal) -> str | None:
        """``RemoteDelivery.route``: queue a signal for another node's link."""
        target = signal.target
        link = self.federation._up.get(target.node)
        if link is None or link.peer is None or link.peer.creation != target.creation:
            return NOPROC
        cost = len(signal.payload) + SIGNAL_COST
        conn = link.connection
        on_trio = threading.get_ident() == self._thread
        with self._lock:
            queued = self._queued.get(target.node, 0)
            if signal.kind not in _CLEANUP and conn.buffered + queued >= conn.config.send_buffer:
                return FULL
            if signal.kind == "send" and conn.credit_left(target.id) == 0:
                return FULL  # the remote mailbox has not drained our casts (credit)
            if on_trio and not self._queue:
                queued = -1  # nothing ahead of it: route now, in order
            else:
                self._queued[target.node] = queued + cost
                self._queue.append((signal, cost))
                if not self._scheduled and not on_trio:
                    self._scheduled = True
                    try:
                        self._token.run_sync_soon(self._drain)
                    except trio.RunFinishedError:
                        self._scheduled = False
        if on_trio:
            if queued == -1:
                self._route_now(signal)
            else:
                self._drain()
        return None

    def _drain(self) -> None:
        """Carry out the queued signals in order (on the Trio thread)."""
        while True:
            with self._lock:
                if not self._queue:
                    self._scheduled = False
                    return
                batch = list(self._queue)
                self._queue.clear()
                for signal, cost in batch:
                    node = signal.target.node
                    left = self._queued.get(node, 0) - cost
                    if left > 0:
                        self._queued[node] = left
                    else:
                        self._queued.pop(node, None)
            for signal, _ in batch:
                if not self.closed:
                    self._route_now(signal)

    def _route_now(self, signal: Signal) -> None:
        fed = self.federation
        target = RemotePid(signal.target.node, signal.target.creation, signal.target.id)
        sender = signal.sender.id
        try:
            match signal.kind:
                case "send":
                    fed.send(target, sender, signal.payload)
                case "call":
                    if len(self._calls) >= _PRUNE_AT:  # drop calls the router gave up on
                        pending = self.port.call_pending
                        self._calls = {r: t for r, t in self._calls.items() if pending(r)}
                    self._calls[signal.ref] = target
                    timeout = signal.timeout_ms
                    fed.call(target, sender, signal.ref, signal.payload, timeout_ms=timeout)
                case "monitor":
                    fed.monitor(sender, target, signal.ref)
                case "demonitor":
                    fed.demonitor(sender, target, signal.ref)
                case "link":
                    fed.link(sender, target)
                case "unlink":
                    fed.unlink(sender, target)
                case "exit":
                    self._exit(target, sender, signal.payload.decode(errors="replace"))
        except (NodeUnreachable, NoProc, SendBufferFull) as exc:
            reason = (
                NOCONNECTION
                if isinstance(exc, NodeUnreachable)
                else FULL
                if isinstance(exc, SendBufferFull)
                else NOPROC
            )
            self._failed(signal, target, reason)

    def _exit(self, target: RemotePid, sender: int, reason: str) -> None:
        """``exit/2`` to another node's actor: over the link if there is
        one, else as a bare exit signal the target's node decides on
        (``hostkit:federation#exit``)."""
        from .._pid import ExitReason

        kind, detail = (reason, "") if reason in ExitReason.KINDS else ("error", reason)
        if kind == "kill":
            kind, detail = "killed", "exit signal 'kill'"
        if not self.federation.exit(sender, target, kind, detail):
            self.federation._checked(target).send_reply(
                Exit(sender, target.id, kind, detail[:4096])
            )

    def _failed(self, signal: Signal, target: RemotePid, reason: str) -> None:
        if signal.kind == "call":
            self._calls.pop(signal.ref, None)
            self.port.resolve_call(signal.ref, None, (reason, None))
        elif signal.kind == "send":
            self.undeliverable(signal.sender.id, target, 0, reason)
        elif signal.kind == "link":
            self.exit_signal(target, signal.sender.id, NOCONNECTION, reason)
        elif signal.kind == "monitor":
            self.port.down(signal.ref, NOCONNECTION, reason)

    # ----------------------------------------------- inbound (LocalNode)

    def _wire(self, pid: RemotePid) -> int | None:
        """``pid`` as a guest ``u64``; None if no u64 can carry it (an id past
        48 bits, which a hostile peer can name, or no slot left)."""
        try:
            return self.slots.encode(pid)
        except FederationConfigError:
            return None

    def deliver(self, sender: RemotePid | int, target: int, payload: bytes) -> str | None:
        wire = sender if isinstance(sender, int) else self._wire(sender)
        if wire is None:
            return DENIED  # the target could never answer or name its sender
        return self.port.deliver(wire, target, payload)

    def deliver_call(
        self, sender: RemotePid, target: int, ref: int, payload: bytes, timeout_ms: int
    ) -> str | None:
        def done(value: bytes | None, error: Any) -> None:
            self._token.run_sync_soon(self._call_done, sender, target, ref, value)

        wire = self._wire(sender)
        if wire is None:
            return DENIED
        code, local_ref = self.port.start_call(wire, target, payload, done, timeout_ms)
        if code is not None:
            return str(code)
        # the caller's node owns the timeout; this bounds what a caller that
        # never gets (or wants) an answer can make this host keep
        expiry = min(timeout_ms or MAX_INBOUND_CALL_MS, MAX_INBOUND_CALL_MS)
        self.federation._nursery.start_soon(self._expire, local_ref, expiry)
        return None

    async def _expire(self, ref: int, timeout_ms: int) -> None:
        await trio.sleep(timeout_ms / 1000)
        self.port.cancel_call(ref)

    def _call_done(self, sender: RemotePid, target: int, ref: int, value: bytes | None) -> None:
        try:
            if value is not None:
                self.federation.reply(sender, target, ref, value)
            else:
                link = self.federation.link_to(sender.node)
                link.send_reply(Undeliverable(sender.id, target, ref, NOPROC))
        except (NodeUnreachable, NoProc):
            pass  # the caller's node is gone: its call fails there with noconnection

    def deliver_reply(self, sender: RemotePid, target: int, ref: int, payload: bytes) -> None:
        if self._calls.get(ref) == sender:  # only the callee it went to may answer
            del self._calls[ref]
            self.port.resolve_call(ref, payload)

    def undeliverable(self, sender: int, target: RemotePid, tag: int, reason: str) -> None:
        if self._calls.get(tag) == target:
            del self._calls[tag]
            self.port.resolve_call(tag, None, (reason, None))
            return
        if not self.port.undeliverable(sender, self._wire(target) or 0, tag, reason):
            # host code's casts return once handed over: log the refusal
            log.info("cast from %s to %s was not delivered: %s", sender, target, reason)

    def whereis(self, name: str) -> int | None:
        pid = self.host.whereis(name)
        return None if pid is None else pid.id

    def is_alive(self, pid: int) -> bool:
        return self.port.is_alive(pid)

    def mailbox_length(self, pid: int) -> int | None:
        """Frames in local ``pid``'s mailbox (None: no such actor), so links
        grant a peer credit back as the mailbox drains."""
        return self.port.mailbox_length(pid)

    def exit_signal(self, sender: RemotePid, target: int, kind: str, detail: str) -> None:
        if target == 0:  # a link to this host itself (spawn_link by host code)
            waiter = self._host_waiters.pop(sender, None)
            if waiter is not None:
                waiter(kind, detail)
            else:
                if len(self._host_exits) >= _PRUNE_AT:
                    self._host_exits.pop(next(iter(self._host_exits)))
                self._host_exits[sender] = (kind, detail)
            return
        self.port.exit_signal(Pid(sender.id, sender.node, sender.creation), target, kind, detail)

    def down(self, target: RemotePid, watcher: int, ref: int, kind: str, detail: str) -> None:
        # the wire and pid complete a ref a spawn-with-monitor reserved whose
        # answer this DOWN overtook (or came in the same read as)
        pid = Pid(target.id, target.node, target.creation)
        self.port.down(ref, kind, detail, wire=self._wire(target), pid=pid)

    async def spawn(
        self,
        peer: NodeId,
        component: str,
        digest: str,
        args: bytes,
        on_spawned: Callable[[int], None],
    ) -> int:
        comp = self.host.components.get(component)
        if comp is None or comp.digest != digest:
            raise LookupError(f"no component {component!r} with digest {digest[:12]}... here")
        self._spawns_waiting += 1
        try:
            pid = await self.host.spawn(component, args.decode(errors="replace"))
            ended = self._ended.pop(pid.id, None)
            if ended is None and self._ended_lost and not self.is_alive(pid.id):
                ended = (NOPROC, "ended before the spawn completed")  # its reason was not kept
        finally:
            self._spawns_waiting -= 1
            if not self._spawns_waiting:
                self._ended.clear()
                self._ended_lost = False
        # Host.spawn has no hook before the actor's first activation, so links
        # and monitors are recorded once it returns. An actor that already
        # ended by then is reported to them with its real reason (after the
        # peer has its pid): from _ended if its exit reached this thread
        # already, else when it does (it is among the spawning pids now).
        on_spawned(pid.id)
        if ended is not None:
            self.federation.local_exited(pid.id, *ended)
        return pid.id

    def node_up(self, node: NodeId) -> None:
        pass

    def node_down(self, node: NodeId, reason: str) -> None:
        # calls to it fail now, not at their timeout
        for ref, target in list(self._calls.items()):
            if target.node == node.name:
                del self._calls[ref]
                self.port.resolve_call(ref, None, (NOCONNECTION, None))

    def exited(self, pid: Any, reason: Any) -> None:
        """The host's exit hook (any thread): tell the federation on its thread,
        after every signal the actor queued before it ended."""
        if self.closed:
            return
        if threading.get_ident() == self._thread:
            self._exited_now(pid.id, reason.kind, reason.detail)
        else:
            with suppress(trio.RunFinishedError):
                self._token.run_sync_soon(self._exited_now, pid.id, reason.kind, reason.detail)

    def _exited_now(self, pid: int, kind: str, detail: str) -> None:
        if not self.closed:
            if self._spawns_waiting:
                if len(self._ended) < _PRUNE_AT:
                    self._ended[pid] = (kind, detail)
                else:
                    self._ended_lost = True
            self._drain()
            self.federation.local_exited(pid, kind, detail)


def host_peer_policy(
    host: Host,
    authorizer: Authorizer,
    *,
    groups_of: Callable[[str], tuple[str, ...]] = lambda name: (),
) -> CedarPeerPolicy:
    """A :class:`CedarPeerPolicy` for ``host``: a local actor is the resource
    ``Plugin`` of its component (with the digest, version and publisher the
    host's capability layer gives it), a component is spawnable by a peer
    only if its sha256 equals the digest asked for, and each decision is a
    record on the host's event stream (so in its audit log).

    ``authorizer`` must use :func:`federation_schema` (or a schema extending
    it); with the stock schema the federation-only actions are always denied.
    """
    from ..capabilities import Entity

    port = host.remote_port()

    def entity(component: Any) -> Entity:
        identity = port.identity_of(component)  # None without a capability gate
        if identity is not None:
            return Entity.plugin(identity)
        return Entity.plugin(component.name)

    def plugin_of_pid(pid: int) -> Entity | None:
        component = port.component_of(pid)
        return None if component is None else entity(component)

    def plugin_of_component(name: str, digest: str) -> Entity | None:
        component = host.components.get(name)
        if component is None or component.digest != digest:
            return None
        return entity(component)

    return CedarPeerPolicy(
        authorizer,
        plugin_of_pid=plugin_of_pid,
        plugin_of_component=plugin_of_component,
        groups_of=groups_of,
        audit=_HostRecorder(host),
    )


class _HostRecorder:
    """``AuditLog.record`` onto the host's event stream (``Host.audit``)."""

    def __init__(self, host: Host) -> None:
        self._host = host

    def record(self, event: str, /, **fields: Any) -> None:
        self._host.audit(event, **fields)


@asynccontextmanager
async def open_host_federation(host: Host, **kwargs: Any) -> AsyncIterator[Federation]:
    """Federate ``host`` while the block runs: its node name and creation,
    remote pids routed through the federation, peers' requests delivered to
    its actors.

    Takes the keyword arguments of :func:`open_federation` except ``local``
    (``authenticator``, ``transport``, ``policy``, ...), and ``guest_remote``:
    a :class:`GuestRemote` (registered on the host's gate) to serve guests'
    ``hostkit:federation/remote`` calls through this federation. Without ``audit``,
    federation events (connect, refuse, down, drop) go to the host's event
    stream, and so to its audit log.

    Raises:
        FederationConfigError: the host's ``node_name`` is not a valid node name.
    """
    from ._federation import open_federation

    guest_remote: GuestRemote | None = kwargs.pop("guest_remote", None)
    bridge = HostBridge(host)
    kwargs.setdefault("audit", _HostRecorder(host))
    async with open_federation(
        host.node, creation=host.creation, local=bridge, **kwargs
    ) as federation:
        bridge.federation = federation
        port = host.attach_remote(bridge, bridge)
        host.add_exit_hook(bridge.exited)
        if guest_remote is not None:
            guest_remote.bind(bridge)
        try:
            yield federation
        finally:
            port.detach()
            bridge.closed = True
            if guest_remote is not None:
                guest_remote.bind(None)


class RemoteActorExited(FederationError):
    """A supervised remote actor ended abnormally; ``kind`` is its exit reason
    (``noconnection`` when its node went away)."""

    def __init__(self, pid: Any, kind: str, detail: str) -> None:
        super().__init__(f"remote actor {pid} exited: {kind}" + (f": {detail}" if detail else ""))
        self.kind = kind
        self.detail = detail


def remote_actor(
    federation: Federation,
    node: str,
    component: str,
    digest: str,
    init: str = "",
    *,
    wait_for_node: float = 10.0,
) -> Any:
    """A supervisor child (a ``TaskStart``) that runs ``component`` on ``node``.

    Each start spawns the actor there, linked to this host (atomically, as
    ``spawn_link``), and waits for its exit signal: an abnormal exit --
    ``noconnection`` included, when the node goes away -- ends the child with
    :class:`RemoteActorExited`, and the supervisor applies its strategy and
    intensity. A start first waits up to ``wait_for_node``
    seconds for the node's link. Stopping the child sends the remote actor an
    exit signal ``shutdown`` over the link. The federation must be joined to
    the supervisor's host (:func:`open_host_federation`).
    """
    from .._pid import Pid
    from ..supervision import TaskStart

    async def run(*, task_status: Any) -> None:
        bridge = federation.local
        if not isinstance(bridge, HostBridge):
            raise FederationConfigError("remote_actor needs a federation from open_host_federation")
        with trio.move_on_after(wait_for_node):
            await federation.wait_up(node)
        # spawn_link: the link to this host exists before the actor runs, so
        # no exit can be missed (a monitor set up afterwards could miss one)
        child = await federation.spawn(node, component, digest, init.encode(), link=True)
        pid = Pid(child.id, child.node, child.creation)
        task_status.started(pid)
        try:
            kind, detail = await bridge.wait_host_link(child)
        finally:
            federation.exit(0, child, "shutdown")  # stopped by the supervisor (if linked)
        if kind not in ("normal", "shutdown"):
            raise RemoteActorExited(pid, kind, detail)

    return TaskStart(run, wait_started=True)
