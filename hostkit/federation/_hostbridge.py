"""Joins a :class:`~hostkit.Host` to a :class:`Federation`: the router's
remote seam on one side, :class:`LocalNode` on the other.

Outbound, the router hands every signal for another node's pid to
:meth:`HostBridge.route` (``RemoteDelivery``), on any thread; the bridge
checks the link synchronously (so an unreachable node or a full send buffer
is an error to the sender at once) and carries the signal out on the Trio
thread. Inbound, the federation (after the peer's Cedar decision) calls the
bridge's ``LocalNode`` methods, which push frames into local mailboxes
through the router. A remote sender appears to a guest as a ``u64`` with a
node slot in its high 16 bits (:class:`PidSlots`).

What is not wired yet: guests *sending* to such a ``u64`` (the router
resolves guest pids as local ids), remote links (the router's ``link`` is
local only) and ``exit/2`` to a remote pid without a link (refused as
``denied``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from .._errors import FederationError, NoProc
from ._errors import FederationConfigError, NodeUnreachable, SendBufferFull
from ._identity import NodeId, PidSlots, RemotePid
from ._local import NOCONNECTION, NOPROC
from ._policy import CedarPeerPolicy

if TYPE_CHECKING:
    from ..capabilities import Authorizer
    from ..runtime import Host
    from ._federation import Federation

log = logging.getLogger("hostkit.federation")

FULL = "mailbox-full"
#: A call from a peer is cancelled after this long at most (its own timeout
#: if shorter), so a guest that never answers cannot pile up pending calls.
MAX_INBOUND_CALL_MS = 60_000
_PRUNE_AT = 4096
DENIED = "denied"


class HostBridge:
    """The router's ``RemoteDelivery`` and the federation's ``LocalNode`` for one host.

    Made by :func:`open_host_federation`.
    """

    federation: Federation

    def __init__(self, host: Host) -> None:
        from .._frames import frame
        from .._pid import ExitReason, Pid
        from ..runtime._actors import Waiter

        self._frame = frame
        self._ExitReason = ExitReason
        self._Pid = Pid
        self._Waiter = Waiter
        self.host = host
        self.closed = False
        self.slots = PidSlots()
        self._router = host._router
        self._links = host._sched.links
        self._token = trio.lowlevel.current_trio_token()
        self._thread = threading.get_ident()
        self._calls: dict[int, RemotePid] = {}  # our call ref -> the callee it went to
        # exits of remote actors linked to this host itself (pid 0)
        self._host_exits: dict[RemotePid, tuple[str, str]] = {}
        self._host_waiters: dict[RemotePid, Callable[[str, str], None]] = {}

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

    def guest_pid(self, wire: int) -> Any:
        """The ``Pid`` a guest means by ``wire`` (a u64 with a node slot in the
        high 16 bits), or None if it names no node this host has seen. For the
        router, to resolve guests' remote pids (not wired yet)."""
        try:
            decoded = self.slots.decode(wire)
        except FederationConfigError:
            return None
        if isinstance(decoded, int):
            return self._Pid(decoded, self.host.node, self.host.creation)
        return self._Pid(decoded.id, decoded.node, decoded.creation)

    # ------------------------------------------------ outbound (any thread)

    def route(self, signal: Any) -> str | None:
        """``RemoteDelivery.route``: hand a signal for another node to its link."""
        target = signal.target
        link = self.federation._up.get(target.node)
        if link is None or link.peer is None or link.peer.creation != target.creation:
            return NOPROC
        if signal.kind == "exit":
            return DENIED  # exit/2 to a remote pid without a link: not supported
        if link.connection.buffered >= link.connection.config.send_buffer:
            return FULL
        if signal.kind == "send" and link.connection.credit_left(target.id) == 0:
            return FULL  # the remote mailbox has not drained our casts (credit)
        if threading.get_ident() == self._thread:
            self._route_now(signal)
        else:
            self._token.run_sync_soon(self._route_now, signal)
        return None

    def _route_now(self, signal: Any) -> None:
        fed = self.federation
        target = RemotePid(signal.target.node, signal.target.creation, signal.target.id)
        sender = signal.sender.id
        try:
            match signal.kind:
                case "send":
                    fed.send(target, sender, signal.payload)
                case "call":
                    if len(self._calls) >= _PRUNE_AT:  # drop calls the router gave up on
                        pending = self._router.calls
                        self._calls = {r: t for r, t in self._calls.items() if r in pending}
                    self._calls[signal.ref] = target
                    fed.call(target, sender, signal.ref, signal.payload, timeout_ms=0)
                case "monitor":
                    fed.monitor(sender, target, signal.ref)
                case "demonitor":
                    fed.demonitor(sender, target, signal.ref)
                case "link":
                    fed.link(sender, target)
                case "unlink":
                    fed.unlink(sender, target)
        except (NodeUnreachable, NoProc, SendBufferFull) as exc:
            reason = (
                NOCONNECTION if isinstance(exc, NodeUnreachable)
                else FULL if isinstance(exc, SendBufferFull) else NOPROC
            )
            self._failed(signal, target, reason)

    def _failed(self, signal: Any, target: RemotePid, reason: str) -> None:
        if signal.kind == "call":
            self._calls.pop(signal.ref, None)
            self._router.remote_reply(signal.ref, None, (reason, None))
        elif signal.kind == "send":
            self.undeliverable(signal.sender.id, target, 0, reason)
        elif signal.kind == "link":
            self.exit_signal(target, signal.sender.id, reason, "")

    # ----------------------------------------------- inbound (LocalNode)

    def _actor(self, pid: int) -> Any:
        return self._router.actors.get(pid)

    def deliver(self, sender: RemotePid | int, target: int, payload: bytes) -> str | None:
        actor = self._actor(target)
        if actor is None:
            return NOPROC
        if len(payload) > self._router.max_size:
            return "too-large"
        wire = sender if isinstance(sender, int) else self.slots.encode(sender)
        code: str | None = self._router.push(actor, self._frame(b"c", wire, 0, payload))
        return code

    def deliver_call(
        self, sender: RemotePid, target: int, ref: int, payload: bytes, timeout_ms: int
    ) -> str | None:
        def done(waiter: Any) -> None:
            self._token.run_sync_soon(self._call_done, sender, target, ref, waiter)

        waiter = self._Waiter(target, on_done=done)
        code, local_ref = self._router.start_call(None, target, payload, waiter, timeout_ms)
        if code is not None:
            return str(code)
        # the caller's node owns the timeout; this bounds what a caller that
        # never gets (or wants) an answer can make this host keep
        expiry = min(timeout_ms or MAX_INBOUND_CALL_MS, MAX_INBOUND_CALL_MS)
        self.federation._nursery.start_soon(self._expire, local_ref, expiry)
        return None

    async def _expire(self, ref: int, timeout_ms: int) -> None:
        await trio.sleep(timeout_ms / 1000)
        self._router.cancel_call(ref)

    def _call_done(self, sender: RemotePid, target: int, ref: int, waiter: Any) -> None:
        try:
            if waiter.value is not None:
                self.federation.reply(sender, target, ref, waiter.value)
            else:
                link = self.federation.link_to(sender.node)
                from ._messages import Undeliverable

                link.send_reply(Undeliverable(sender.id, target, ref, NOPROC))
        except (NodeUnreachable, NoProc):
            pass  # the caller's node is gone: its call fails there with noconnection

    def deliver_reply(self, sender: RemotePid, target: int, ref: int, payload: bytes) -> None:
        if self._calls.get(ref) == sender:  # only the callee it went to may answer
            del self._calls[ref]
            self._router.remote_reply(ref, payload)

    def undeliverable(self, sender: int, target: RemotePid, tag: int, reason: str) -> None:
        if self._calls.get(tag) == target:
            del self._calls[tag]
            self._router.remote_reply(tag, None, (reason, None))
            return
        actor = self._actor(sender)
        if actor is not None:
            wire = self.slots.encode(target)
            self._router.push(actor, self._frame(b"u", wire, tag, reason.encode()), system=True)
        else:  # host code's casts return once handed over: log the refusal
            log.info("cast from %s to %s was not delivered: %s", sender, target, reason)

    def whereis(self, name: str) -> int | None:
        pid = self.host.whereis(name)
        return None if pid is None else pid.id

    def is_alive(self, pid: int) -> bool:
        return self._actor(pid) is not None

    def mailbox_length(self, pid: int) -> int | None:
        """Frames in local ``pid``'s mailbox (None: no such actor), so links
        grant a peer credit back as the mailbox drains."""
        actor = self._actor(pid)
        return None if actor is None else len(actor.mailbox)

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
        actor = self._actor(target)
        if actor is not None:
            pid = self._Pid(sender.id, sender.node, sender.creation)
            self._links.exit_signal(actor, pid, self._ExitReason(kind, detail))

    def down(self, target: RemotePid, watcher: int, ref: int, kind: str, detail: str) -> None:
        self._links.remote_down(ref, target.id, self._ExitReason(kind, detail))

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
        pid = await self.host.spawn(component, args.decode(errors="replace"))
        # Host.spawn has no hook before the actor's first activation, so links
        # are recorded once it returns; an actor that already ended by then is
        # reported to them as noproc (after the peer has its pid)
        on_spawned(pid.id)
        if not self.is_alive(pid.id):
            self.federation.local_exited(pid.id, NOPROC, "ended before the spawn completed")
        return pid.id

    def node_up(self, node: NodeId) -> None:
        pass

    def node_down(self, node: NodeId, reason: str) -> None:
        # calls to it fail now, not at their timeout
        for ref, target in list(self._calls.items()):
            if target.node == node.name:
                del self._calls[ref]
                self._router.remote_reply(ref, None, (NOCONNECTION, None))

    def exited(self, pid: Any, reason: Any) -> None:
        """The host's exit hook (any thread): tell the federation on its thread."""
        if self.closed:
            return
        if threading.get_ident() == self._thread:
            self.federation.local_exited(pid.id, reason.kind, reason.detail)
        else:
            self._token.run_sync_soon(
                self.federation.local_exited, pid.id, reason.kind, reason.detail
            )


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

    router = host._router
    identity_of = getattr(host._capabilities, "identity_of", None)  # the Gate has it

    def entity(component: Any) -> Entity:
        if identity_of is not None:
            return Entity.plugin(identity_of(component))
        return Entity.plugin(component.name)

    def plugin_of_pid(pid: int) -> Entity | None:
        actor = router.actors.get(pid)
        return None if actor is None else entity(actor.component)

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
    (``authenticator``, ``transport``, ``policy``, ...). Without ``audit``,
    federation events (connect, refuse, down, drop) go to the host's event
    stream, and so to its audit log.

    Raises:
        FederationConfigError: the host's ``node_name`` is not a valid node name.
    """
    from ._federation import open_federation

    bridge = HostBridge(host)
    router = host._router
    kwargs.setdefault("audit", _HostRecorder(host))
    async with open_federation(
        host.node, creation=host.creation, local=bridge, **kwargs
    ) as federation:
        bridge.federation = federation
        router.remote = bridge
        host.add_exit_hook(bridge.exited)
        try:
            yield federation
        finally:
            router.remote = None
            bridge.closed = True


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
