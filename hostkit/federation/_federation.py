"""The federation of one node: its links, and the seam the router plugs into.

:class:`Federation` owns the links to peers (serving, dialling, reconnecting
with backoff), one up link per peer name, and the cross-node halves of
links and monitors, so that losing a link fires every one of them with
``noconnection``. Inbound requests are authorized by a
:class:`~hostkit.federation.PeerPolicy` and carried out through a
:class:`~hostkit.federation.LocalNode` (``_inbound.py``); outbound ones are
its methods (``_outbound.py``).
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import trio

from ._auth import Authenticator
from ._errors import AuthenticationFailed, NodeUnreachable, ProtocolError
from ._identity import NodeId, RemotePid, check_node_name, new_creation
from ._inbound import dispatch
from ._link import Channel, Link, Transport
from ._local import NOCONNECTION, LocalNode
from ._messages import FLAG_PG, KNOWN_FLAGS
from ._outbound import Outbound
from ._pg import ProcessGroups
from ._policy import CONNECT, PeerPolicy, Recorder, ThisNode
from ._protocol import (
    CloseReason,
    Connection,
    LinkClosed,
    LinkConfig,
    PeerUp,
    PeerVerified,
    Received,
)

log = logging.getLogger("hostkit.federation")

#: Inbound spawns one peer may have running at once.
MAX_CONCURRENT_SPAWNS: Final = 16
#: Outstanding outbound requests (spawn, whereis) per node.
MAX_PENDING: Final = 1024


@dataclass(frozen=True, slots=True)
class NodeUp:
    """A link to ``node`` came up (a node monitor's ``nodeup``)."""

    node: NodeId


@dataclass(frozen=True, slots=True)
class NodeDown:
    """The link to ``node`` is gone (``nodedown``); ``reason`` says why."""

    node: NodeId
    reason: str


NodeEvent = NodeUp | NodeDown


@dataclass
class _Pending:
    node: str
    done: trio.Event = field(default_factory=trio.Event)
    result: Any = None
    error: str | None = None
    link_sender: int | None = None  # spawn_link: the local end (0: the host)
    monitor: tuple[int, int] | None = None  # (watcher, ref)


class Federation(Outbound):
    """This node's federation. Make it with :func:`open_federation`.

    Attributes:
        node: this node's name and creation.
        pg: the process-group table (read it with :meth:`pg_members`).
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        name: str,
        *,
        authenticator: Authenticator,
        transport: Transport,
        local: LocalNode,
        policy: PeerPolicy,
        config: LinkConfig | None = None,
        audit: Recorder | None = None,
        creation: int | None = None,
        flags: frozenset[str] = KNOWN_FLAGS,
        reconnect: tuple[float, float] = (0.1, 30.0),
    ) -> None:
        self.node = NodeId(check_node_name(name), creation or new_creation())
        self.pg = ProcessGroups()
        self.config = config or LinkConfig()
        self.local = local
        self.policy = policy
        self._nursery = nursery
        self._auth = authenticator
        self._transport = transport
        self._audit = audit
        self._flags = flags
        self._reconnect = reconnect
        self._up: dict[str, Link] = {}
        self._verified: dict[str, Link] = {}
        self._up_events: dict[str, trio.Event] = {}
        self._closing = False
        self._dials: dict[str, trio.CancelScope] = {}
        self.last_dial_error: dict[str, str] = {}
        # cross-node halves of links and monitors
        self._links_of: dict[int, set[RemotePid]] = {}
        self._out_mon: dict[tuple[int, int], RemotePid] = {}  # (watcher, ref) -> target
        self._in_mon: dict[int, set[tuple[RemotePid, int]]] = {}  # target -> {(watcher, ref)}
        self._pending: dict[int, _Pending] = {}
        self._next_req = 1
        self._spawning: Counter[str] = Counter()
        self._spawning_pids: set[int] = set()
        self._early_exits: dict[int, tuple[str, str]] = {}
        self._watchers: list[trio.MemorySendChannel[NodeEvent]] = []

    # --------------------------------------------------------------- peers

    def peers(self) -> list[NodeId]:
        """The nodes with an up link, sorted by name."""
        return sorted((link.peer for link in self._up.values() if link.peer), key=str)

    def link_to(self, node: str) -> Link:
        """The up link to ``node``.

        Raises:
            NodeUnreachable: there is none.
        """
        link = self._up.get(node)
        if link is None:
            raise NodeUnreachable(node)
        return link

    async def wait_up(self, node: str) -> NodeId:
        """Wait until a link to ``node`` is up; returns the peer's node id."""
        while node not in self._up:
            await self._up_events.setdefault(node, trio.Event()).wait()
        peer = self._up[node].peer
        assert peer is not None
        return peer

    @contextmanager
    def watch_nodes(self, *, buffer: int = 256) -> Iterator[trio.MemoryReceiveChannel[NodeEvent]]:
        """Node monitors: a channel of :class:`NodeUp` / :class:`NodeDown` events
        while the block runs. A watcher that falls ``buffer`` events behind
        is dropped: its channel ends (it never blocks a link)."""
        send, receive = trio.open_memory_channel[NodeEvent](buffer)
        self._watchers.append(send)
        try:
            yield receive
        finally:
            if send in self._watchers:
                self._watchers.remove(send)
            send.close()

    def _notify(self, event: NodeEvent) -> None:
        for send in list(self._watchers):
            try:
                send.send_nowait(event)
            except (trio.WouldBlock, trio.BrokenResourceError):
                self._watchers.remove(send)
                send.close()

    async def serve(
        self, address: str, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Accept links on ``address`` until cancelled (use ``nursery.start``)."""
        await self._transport.serve(address, self._accepted, task_status=task_status)

    async def listen(self, address: str) -> str:
        """Start serving ``address`` in the background; returns the bound address."""
        bound: str = await self._nursery.start(self.serve, address)
        return bound

    def add_peer(self, name: str, address: str) -> None:
        """Keep a link to ``name`` at ``address``: dial now and after every loss,
        with exponential backoff and jitter between attempts."""
        check_node_name(name)
        if name in self._dials:
            return
        scope = trio.CancelScope()
        self._dials[name] = scope
        self._nursery.start_soon(self._keep_connected, name, address, scope)

    def remove_peer(self, name: str) -> None:
        """Stop redialling ``name`` and close its link."""
        scope = self._dials.pop(name, None)
        if scope is not None:
            scope.cancel()
        link = self._up.get(name)
        if link is not None:
            link.close("peer removed")

    async def aclose(self) -> None:
        """Say Bye on every link and stop (waits at most one second for the Byes)."""
        self._closing = True
        for scope in self._dials.values():
            scope.cancel()
        links = list(self._up.values()) + list(self._verified.values())
        for link in links:
            link.close("node shutting down")
        with trio.move_on_after(1):
            for link in links:
                await link.done.wait()

    # ------------------------------------------------------------- running

    def _new_link(self, channel: Channel, *, expected: str | None) -> Link:
        conn = Connection(
            name=self.node.name,
            creation=self.node.creation,
            authenticator=self._auth,
            initiator=expected is not None,
            now=trio.current_time(),
            expected_peer=expected,
            flags=self._flags,
            config=self.config,
            channel_binding=getattr(channel, "binding", b""),
        )
        # credit is granted back as the host's mailboxes drain (if it can say)
        return Link(conn, channel, self, mailbox_length=getattr(self.local, "mailbox_length", None))

    async def _accepted(self, channel: Channel) -> None:
        if self._closing:
            return
        await self._new_link(channel, expected=None).run()

    async def _keep_connected(self, name: str, address: str, scope: trio.CancelScope) -> None:
        low, high = self._reconnect
        delay = low
        with scope:
            while not self._closing:
                try:
                    async with self._transport.open_channel(address) as channel:
                        link = self._new_link(channel, expected=name)
                        await link.run()
                    if link.connection.was_up:
                        delay = low
                except (NodeUnreachable, AuthenticationFailed, OSError) as exc:
                    self.last_dial_error[name] = str(exc)
                await trio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, high)

    # --------------------------------------------------- LinkHandler (sync)

    def link_verified(self, link: Link, event: PeerVerified) -> str | None:
        peer = event.peer
        current = self._up.get(peer.name)
        if current is not None and current.peer is not None and current.peer != peer:
            # a new boot of the node proved itself: the old link is dead even
            # if its heartbeat has not noticed yet (Erlang does the same)
            current.close(f"replaced by {peer}")
        if peer.name in self._up or peer.name in self._verified:
            # simultaneous dials: one is refused; the dialler retries after backoff
            return "already connected"
        if not self.policy.allows(peer, CONNECT, ThisNode(self.node.name), {}):
            return "not authorized to connect"
        self._verified[peer.name] = link
        return None

    def link_up(self, link: Link, event: PeerUp) -> None:
        name = event.peer.name
        self._verified.pop(name, None)
        self._up[name] = link
        self._record(
            "federation-connect",
            peer=name,
            creation=event.peer.creation,
            address=link.channel.remote,
            flags=sorted(event.flags),
        )
        if FLAG_PG in event.flags:
            link.send_reply(self.pg.sync())
        self.local.node_up(event.peer)
        self._notify(NodeUp(event.peer))
        waiter = self._up_events.pop(name, None)
        if waiter is not None:
            waiter.set()

    def link_received(self, link: Link, event: Received) -> None:
        peer = link.peer
        if peer is None or self._up.get(peer.name) is not link:
            return
        try:
            dispatch(self, link, peer, event.message)
        except ProtocolError as exc:
            link.connection.fail(str(exc))
        except Exception:
            # a bug in the local host's LocalNode: keep the link (and every
            # other link) reading, but never silently
            log.exception(
                "federation: handling %s from %s failed", type(event.message).__name__, peer
            )

    def link_closed(self, link: Link, event: LinkClosed) -> None:
        name = event.peer.name if event.peer else None
        if name is not None and self._verified.get(name) is link:
            del self._verified[name]
        if name is not None and self._up.get(name) is link:
            assert event.peer is not None
            self._node_down(event.peer, event)
            return
        if not event.was_up and event.reason is not CloseReason.LOCAL:
            self._record(
                "federation-refuse",
                peer=name,
                address=link.channel.remote,
                reason=event.reason.value,
                detail=event.detail,
            )

    def _node_down(self, peer: NodeId, event: LinkClosed) -> None:
        del self._up[peer.name]
        self._record(
            "federation-down", peer=peer.name, reason=event.reason.value, detail=event.detail
        )
        self.pg.node_down(peer)
        local = self.local
        for pid, remotes in list(self._links_of.items()):
            gone = [r for r in remotes if r.node == peer.name]
            remotes.difference_update(gone)
            if not remotes:
                del self._links_of[pid]
            for remote in gone:
                local.exit_signal(remote, pid, NOCONNECTION, "")
        for (watcher, ref), target in list(self._out_mon.items()):
            if target.node == peer.name:
                del self._out_mon[(watcher, ref)]
                local.down(target, watcher, ref, NOCONNECTION, "")
        for watched, watchers in list(self._in_mon.items()):
            watchers.difference_update({w for w in watchers if w[0].node == peer.name})
            if not watchers:
                del self._in_mon[watched]
        for req, pending in list(self._pending.items()):
            if pending.node == peer.name:
                del self._pending[req]
                pending.error = NOCONNECTION
                pending.done.set()
        reason = f"{event.reason.value}: {event.detail}"
        local.node_down(peer, reason)
        self._notify(NodeDown(peer, reason))

    def _record(self, event: str, **fields: Any) -> None:
        if self._audit is not None:
            self._audit.record(event, **fields)


@asynccontextmanager
async def open_federation(name: str, **kwargs: Any) -> AsyncIterator[Federation]:
    """Run a federation for node ``name`` while the block runs.

    Takes the keyword arguments of :class:`Federation` (``authenticator``,
    ``transport``, ``local``, ``policy``, ``config``, ``audit``, ...). On exit,
    says Bye on every link and stops serving and dialling.
    """
    async with trio.open_nursery() as nursery:
        federation = Federation(nursery, name, **kwargs)
        try:
            yield federation
        finally:
            with trio.CancelScope(shield=True):
                await federation.aclose()
            nursery.cancel_scope.cancel()
