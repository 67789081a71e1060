"""What the router calls: remote send, call, reply, spawn, link, monitor, pg.

Mixed into :class:`~hostkit.federation.Federation`. Every method names a
remote actor by :class:`RemotePid` (node, creation, id) and a local one by
its id. A pid of an earlier boot of the node (another creation) is stale:
the message is dropped, audited, and the caller gets :class:`NoProc`. A
node without an up link is :class:`NodeUnreachable` for sends (an error to
the sender, never a silent drop) and an immediate DOWN / exit
``noconnection`` for monitors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import trio

from .._errors import CallTimeout, FederationError, NoProc, SpawnError
from ._errors import FederationConfigError, NodeUnreachable
from ._identity import NodeId, RemotePid
from ._local import NOCONNECTION, NOPROC, LocalNode
from ._messages import (
    FLAG_PG,
    ActorMessage,
    Call,
    Demonitor,
    Down,
    Exit,
    Link,
    Monitor,
    PgPublish,
    Reply,
    Send,
    SendNamed,
    Spawn,
    Spawned,
    Unlink,
    Whereis,
)
from ._pg import ProcessGroups
from ._policy import SPAWN, ComponentRef, PeerPolicy

if TYPE_CHECKING:
    from ._federation import _Pending
    from ._link import Link as LinkDriver

_DIGEST = re.compile(r"[0-9a-f]{64}")


class Outbound:
    """The router-facing half of :class:`Federation` (see the module docstring)."""

    local: LocalNode
    policy: PeerPolicy
    pg: ProcessGroups
    _nursery: trio.Nursery
    _up: dict[str, LinkDriver]
    _links_of: dict[int, set[RemotePid]]
    _out_mon: dict[tuple[int, int], RemotePid]
    _in_mon: dict[int, set[tuple[RemotePid, int]]]
    _pending: dict[int, _Pending]
    _next_req: int
    _spawning: Any
    _spawning_pids: set[int]

    if TYPE_CHECKING:  # provided by the class this mixin is part of

        def link_to(self, node: str) -> LinkDriver: ...

        def _record(self, event: str, **fields: Any) -> None: ...

    # ------------------------------------------------------------ messages

    def _checked(self, pid: RemotePid) -> LinkDriver:
        link = self.link_to(pid.node)
        assert link.peer is not None
        if link.peer.creation != pid.creation:
            self._record(
                "federation-drop",
                peer=pid.node,
                resource=str(pid),
                detail=f"stale pid: {pid.node} now runs creation {link.peer.creation:08x}",
            )
            raise NoProc(f"{pid} belongs to an earlier boot of node {pid.node!r}")
        return link

    def send(self, to: RemotePid, sender: int, payload: bytes, *, tag: int = 0) -> None:
        """Cast ``payload`` from local ``sender`` to ``to`` without waiting.

        A failure on the far side comes back as ``LocalNode.undeliverable``
        with ``tag``.

        Raises:
            NodeUnreachable: no up link to ``to.node``.
            NoProc: ``to`` is of an earlier boot of its node.
            SendBufferFull: the link's send buffer is full (use :meth:`send_wait`).
        """
        self._checked(to).send_nowait(Send(to.id, sender, payload, tag))

    async def send_wait(self, to: RemotePid, sender: int, payload: bytes, *, tag: int = 0) -> None:
        """Like :meth:`send`, but waits while the link's send buffer is full."""
        await self._checked(to).send(Send(to.id, sender, payload, tag))

    def send_named(
        self, node: str, name: str, sender: int, payload: bytes, *, tag: int = 0
    ) -> None:
        """Cast to the actor registered as ``name`` on ``node`` (``{name, node} ! msg``)."""
        self.link_to(node).send_nowait(SendNamed(name, sender, payload, tag))

    def call(
        self, to: RemotePid, sender: int, ref: int, payload: bytes, *, timeout_ms: int
    ) -> None:
        """Send a call; the answer arrives as ``LocalNode.deliver_reply`` with
        ``ref``, or ``LocalNode.undeliverable`` with ``ref``. The router owns
        the timeout."""
        self._checked(to).send_nowait(Call(to.id, sender, ref, payload, timeout_ms))

    def reply(self, to: RemotePid, sender: int, ref: int, payload: bytes) -> None:
        """Answer the call ``ref`` that remote ``to`` made to local ``sender``."""
        self._checked(to).send_reply(Reply(to.id, sender, ref, payload))

    # ------------------------------------------------------ links, monitors

    def link(self, pid: int, remote: RemotePid) -> None:
        """Link local ``pid`` with ``remote``. If ``remote`` is dead, ``pid``
        gets an exit signal ``noproc`` from the peer.

        Raises:
            NodeUnreachable: no up link to the node (Erlang's ``noconnection``).
            NoProc: ``remote`` is of an earlier boot.
        """
        link = self._checked(remote)
        self._links_of.setdefault(pid, set()).add(remote)
        link.send_reply(Link(pid, remote.id))

    def unlink(self, pid: int, remote: RemotePid) -> None:
        """Remove the link (no error if there is none or the node is gone)."""
        if self._forget_link(pid, remote) and remote.node in self._up:
            self._up[remote.node].send_reply(Unlink(pid, remote.id))

    def exit(self, pid: int, remote: RemotePid, kind: str, detail: str = "") -> bool:
        """Send an exit signal from local ``pid`` to the ``remote`` actor it is
        linked with, and drop the link (how a supervisor stops a remote child).
        Exit signals only travel over links. Returns False if there is no such
        link or its node is gone."""
        if not self._forget_link(pid, remote) or remote.node not in self._up:
            return False
        self._up[remote.node].send_reply(Exit(pid, remote.id, kind, detail[:4096]))
        return True

    def _forget_link(self, pid: int, remote: RemotePid) -> bool:
        remotes = self._links_of.get(pid)
        if remotes is None or remote not in remotes:
            return False
        remotes.discard(remote)
        if not remotes:
            del self._links_of[pid]
        return True

    def monitor(self, watcher: int, target: RemotePid, ref: int) -> None:
        """Local ``watcher`` monitors ``target`` under ``ref`` (unique per watcher).

        Never raises: an unreachable node gives ``LocalNode.down`` with
        ``noconnection`` at once (before this returns), a stale pid ``noproc``.
        """
        try:
            link = self._checked(target)
        except NodeUnreachable:
            self.local.down(target, watcher, ref, NOCONNECTION, "")
            return
        except NoProc:
            self.local.down(target, watcher, ref, NOPROC, "stale pid")
            return
        self._out_mon[(watcher, ref)] = target
        link.send_reply(Monitor(watcher, target.id, ref))

    def demonitor(self, watcher: int, target: RemotePid, ref: int) -> None:
        """Remove the monitor; a DOWN already on its way is dropped."""
        if self._out_mon.pop((watcher, ref), None) is not None and target.node in self._up:
            self._up[target.node].send_reply(Demonitor(watcher, target.id, ref))

    def local_exited(self, pid: int, kind: str, detail: str = "") -> None:
        """Local actor ``pid`` ended: exit signals to its remote links, DOWN to
        its remote watchers, and it leaves every process group. The router
        calls this for every actor that exits."""
        if pid in self._spawning_pids:
            self._spawning_pids.discard(pid)
            self._early_exits[pid] = (kind, detail)
            return
        for remote in self._links_of.pop(pid, set()):
            if remote.node in self._up:
                self._up[remote.node].send_reply(Exit(pid, remote.id, kind, detail[:4096]))
        for watcher, ref in self._in_mon.pop(pid, set()):
            if watcher.node in self._up:
                self._up[watcher.node].send_reply(Down(pid, watcher.id, ref, kind, detail[:4096]))
        for message in self.pg.leave_all(pid):
            self._broadcast_pg(message)

    _early_exits: dict[int, tuple[str, str]]

    # --------------------------------------------------------------- requests

    def _request(self, node: str, message_of: Any, **pending: Any) -> tuple[int, _Pending]:
        from ._federation import MAX_PENDING, _Pending

        link = self.link_to(node)
        if sum(1 for p in self._pending.values() if p.node == node) >= MAX_PENDING:
            raise FederationError(f"{MAX_PENDING} requests to {node!r} outstanding; retry later")
        req = self._next_req
        self._next_req += 1
        entry = _Pending(node, **pending)
        link.send_nowait(message_of(req))
        self._pending[req] = entry
        return req, entry

    async def _await(self, req: int, entry: _Pending, timeout: float, what: str) -> Any:  # noqa: ASYNC109
        with trio.move_on_after(timeout):
            await entry.done.wait()
        if not entry.done.is_set():
            self._pending.pop(req, None)
            raise CallTimeout(f"{what}: no answer from {entry.node!r} within {timeout:g}s")
        if entry.error == NOCONNECTION:
            raise NodeUnreachable(entry.node, f"link lost during {what}")
        return entry.result

    def _resolve(self, peer: NodeId, req: int, result: RemotePid | None, error: str | None) -> None:
        entry = self._pending.get(req)
        if entry is None or entry.node != peer.name:
            return
        del self._pending[req]
        entry.result, entry.error = result, error
        if result is not None and error is None:
            # Spawn with link/monitor: in place before any later message of
            # the new actor (e.g. its exit) is read from this ordered link.
            if entry.link_sender is not None:
                self._links_of.setdefault(entry.link_sender, set()).add(result)
            if entry.monitor is not None:
                self._out_mon[entry.monitor] = result
        entry.done.set()

    async def whereis(
        self,
        node: str,
        name: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> RemotePid | None:
        """The pid registered as ``name`` on ``node``, or None (also when the
        peer's policy does not let this node look it up).

        Raises:
            NodeUnreachable: no link, or it was lost while waiting.
            CallTimeout: no answer within ``timeout`` seconds.
        """
        req, entry = self._request(node, lambda req: Whereis(req, name))
        result: RemotePid | None = await self._await(req, entry, timeout, f"whereis {name!r}")
        return result

    async def spawn(
        self,
        node: str,
        component: str,
        digest: str,
        args: bytes = b"",
        *,
        sender: int = 0,
        link: bool = False,
        monitor_ref: int = 0,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> RemotePid:
        """Start ``component`` on ``node``; nothing but its name and sha256 is sent.

        With ``link`` (and/or ``monitor_ref``), local ``sender`` is linked to
        (monitors) the new actor before it runs: atomic, as ``spawn_link``.

        Raises:
            FederationConfigError: ``digest`` is not 64 lowercase hex digits.
            NodeUnreachable: no link, or it was lost while waiting.
            SpawnError: the peer refused (policy: ``denied``) or the start failed.
            CallTimeout: no answer within ``timeout`` seconds.
        """
        if not _DIGEST.fullmatch(digest):
            raise FederationConfigError(f"digest {digest!r} must be 64 lowercase hex digits")
        req, entry = self._request(
            node,
            lambda req: Spawn(req, sender, component, digest, args, link, monitor_ref),
            link_sender=sender if link else None,
            monitor=(sender, monitor_ref) if monitor_ref else None,
        )
        result = await self._await(req, entry, timeout, f"spawn {component!r}")
        if entry.error is not None or result is None:
            raise SpawnError(f"spawn of {component!r} on {node!r} failed: {entry.error}")
        pid: RemotePid = result
        return pid

    def _inbound_spawn(self, link: LinkDriver, peer: NodeId, msg: Spawn) -> None:
        from ._federation import MAX_CONCURRENT_SPAWNS

        context = {"size": len(msg.args)}
        if not self.policy.allows(peer, SPAWN, ComponentRef(msg.component, msg.digest), context):
            link.send_reply(Spawned(msg.req, 0, "denied"))
        elif self._spawning[peer.name] >= MAX_CONCURRENT_SPAWNS:
            link.send_reply(Spawned(msg.req, 0, "busy: too many spawns in progress"))
        else:
            self._spawning[peer.name] += 1
            self._nursery.start_soon(self._run_spawn, link, peer, msg)

    async def _run_spawn(self, link: LinkDriver, peer: NodeId, msg: Spawn) -> None:
        requester = RemotePid(peer.name, peer.creation, msg.sender)
        started: list[int] = []

        def on_spawned(pid: int) -> None:
            started.append(pid)
            self._spawning_pids.add(pid)
            if msg.link:
                self._links_of.setdefault(pid, set()).add(requester)
            if msg.monitor_ref:
                self._in_mon.setdefault(pid, set()).add((requester, msg.monitor_ref))

        try:
            pid = await self.local.spawn(peer, msg.component, msg.digest, msg.args, on_spawned)
        except Exception as exc:  # reported to the peer, which raises SpawnError
            for pid in started:
                self._spawning_pids.discard(pid)
                self._early_exits.pop(pid, None)
                self._links_of.pop(pid, None)
                self._in_mon.pop(pid, None)
            link.send_reply(Spawned(msg.req, 0, f"{type(exc).__name__}: {exc}"[:4096]))
        else:
            self._spawning_pids.discard(pid)
            link.send_reply(Spawned(msg.req, pid))
            early = self._early_exits.pop(pid, None)
            if early is not None:  # it ended before we could answer: tell its watchers now
                self.local_exited(pid, *early)
        finally:
            self._spawning[peer.name] -= 1

    # ------------------------------------------------------- process groups

    def _broadcast_pg(self, message: ActorMessage) -> None:
        for link in self._up.values():
            if FLAG_PG in link.connection.flags:
                link.send_reply(message)

    def pg_join(self, group: str, pids: Iterable[int]) -> None:
        """Local ``pids`` join ``group`` (a pid may join more than once)."""
        self._broadcast_pg(self.pg.join(group, pids))

    def pg_leave(self, group: str, pids: Iterable[int]) -> None:
        """Local ``pids`` leave ``group`` once each."""
        message = self.pg.leave(group, pids)
        if message is not None:
            self._broadcast_pg(message)

    def pg_members(self, group: str) -> list[int | RemotePid]:
        """Members of ``group`` on every connected node (local ids are ints)."""
        return self.pg.members(group)

    def pg_publish(self, group: str, sender: int, payload: bytes) -> int:
        """Deliver ``payload`` from local ``sender`` to every member of ``group``:
        local members directly, each node with members by one message.
        Returns how many local members and nodes it went to. Best effort per
        member (a full mailbox skips that member), as Erlang's pg."""
        count = 0
        for pid in self.pg.local_members(group):
            self.local.deliver(sender, pid, payload)
            count += 1
        for node in self.pg.nodes_with_members(group):
            link = self._up.get(node.name)
            if link is not None and link.peer == node:
                link.send_reply(PgPublish(group, sender, payload))
                count += 1
        return count
