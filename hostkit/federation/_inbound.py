"""What a node does with each actor message a peer sends (one ``match``).

Every request from a peer is first a :class:`PeerPolicy` decision with the
peer as principal; a denied or failed request is answered (Undeliverable,
Exit, Down, Spawned or WhereisReply with a reason), never silently dropped.
Exits and DOWNs are only accepted for links and monitors that exist here;
an exit signal between actors that are not linked (Erlang's ``exit/2``) is
carried out only if the peer's policy allows ``hostkit:federation#exit`` on
the target (denied by default, audited like every decision).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._identity import LOCAL_ID_MASK, NodeId, RemotePid
from ._local import EXIT_KINDS, NOPROC
from ._messages import (
    ActorMessage,
    Call,
    Demonitor,
    Down,
    Exit,
    Link,
    Monitor,
    PgJoin,
    PgLeave,
    PgPublish,
    PgSync,
    Reply,
    Send,
    SendNamed,
    Spawn,
    Spawned,
    Undeliverable,
    Unlink,
    Whereis,
    WhereisReply,
)
from ._policy import (
    CALL,
    EXIT,
    LINK,
    MONITOR,
    PG_JOIN,
    PG_PUBLISH,
    SEND,
    WHEREIS,
    GroupRef,
    LocalActor,
    RegisteredName,
)

if TYPE_CHECKING:
    from ._federation import Federation
    from ._link import Link as LinkDriver


def _size(payload: bytes) -> int:
    return len(payload)


def exit_kind(kind: str, detail: str) -> tuple[str, str]:
    """A peer's reason as a known kind: unknown kinds become ``error``."""
    if kind in EXIT_KINDS:
        return kind, detail
    return "error", f"{kind}: {detail}" if detail else kind


def _cast(
    fed: Federation, link: LinkDriver, peer: NodeId, to: int, sender: int, payload: bytes, tag: int
) -> None:
    remote = RemotePid(peer.name, peer.creation, sender)
    if not fed.policy.allows(peer, SEND, LocalActor(to), {"size": _size(payload)}):
        reason: str | None = "denied"
    else:
        reason = fed.local.deliver(remote, to, payload)
    if reason is not None:
        link.send_reply(Undeliverable(sender, to, tag, reason))


def dispatch(fed: Federation, link: LinkDriver, peer: NodeId, message: ActorMessage) -> None:
    """Carry out one message from ``peer`` (raises ProtocolError for a broken one)."""
    local, allows = fed.local, fed.policy.allows

    def remote(pid: int) -> RemotePid:
        return RemotePid(peer.name, peer.creation, pid)

    match message:
        case Send(to=to, sender=sender, payload=payload, tag_=tag):
            _cast(fed, link, peer, to, sender, payload, tag)
        case SendNamed(name=name, sender=sender, payload=payload, tag_=tag):
            pid = local.whereis(name)
            if pid is None:
                link.send_reply(Undeliverable(sender, 0, tag, NOPROC))
            else:
                _cast(fed, link, peer, pid, sender, payload, tag)
        case Call(to=to, sender=sender, ref=ref, payload=payload, timeout_ms=timeout_ms):
            context = {"size": _size(payload), "timeout_ms": timeout_ms}
            if not allows(peer, CALL, LocalActor(to), context):
                reason: str | None = "denied"
            else:
                reason = local.deliver_call(remote(sender), to, ref, payload, timeout_ms)
            if reason is not None:
                link.send_reply(Undeliverable(sender, to, ref, reason))
        case Reply(to=to, sender=sender, ref=ref, payload=payload):
            local.deliver_reply(remote(sender), to, ref, payload)
        case Undeliverable(sender=sender, target=target, tag_=tag, reason=reason_text):
            local.undeliverable(sender, remote(target), tag, reason_text)
        case Link(sender=sender, target=target):
            # a sender no guest u64 can carry could never be named by the
            # exit signals it would send: refused like a denied link
            if sender > LOCAL_ID_MASK or not allows(peer, LINK, LocalActor(target), {}):
                link.send_reply(Exit(target, sender, "denied"))
            elif not local.is_alive(target):
                link.send_reply(Exit(target, sender, NOPROC))
            else:
                fed._links_of.setdefault(target, set()).add(remote(sender))
        case Unlink(sender=sender, target=target):
            fed._forget_link(target, remote(sender))
        case Exit(sender=sender, target=target, reason=kind, detail=detail):
            linked = fed._forget_link(target, remote(sender))
            # not linked: Erlang's exit/2, if the peer's policy allows it
            if linked or (target != 0 and allows(peer, EXIT, LocalActor(target), {})):
                local.exit_signal(remote(sender), target, *exit_kind(kind, detail))
        case Monitor(watcher=watcher, target=target, ref=ref):
            if not allows(peer, MONITOR, LocalActor(target), {}):
                link.send_reply(Down(target, watcher, ref, "denied"))
            elif not local.is_alive(target):
                link.send_reply(Down(target, watcher, ref, NOPROC))
            else:
                fed._in_mon.setdefault(target, set()).add((remote(watcher), ref))
        case Demonitor(watcher=watcher, target=target, ref=ref):
            watchers = fed._in_mon.get(target)
            if watchers is not None:
                watchers.discard((remote(watcher), ref))
                if not watchers:
                    del fed._in_mon[target]
        case Down(target=target, watcher=watcher, ref=ref, reason=kind, detail=detail):
            if fed._out_mon.get((watcher, ref)) == remote(target):
                del fed._out_mon[(watcher, ref)]
                local.down(remote(target), watcher, ref, *exit_kind(kind, detail))
        case Whereis(req=req, name=name):
            found = local.whereis(name) if allows(peer, WHEREIS, RegisteredName(name), {}) else None
            link.send_reply(WhereisReply(req, found or 0))
        case WhereisReply(req=req, pid=pid):
            fed._resolve(peer, req, remote(pid) if pid else None, None)
        case Spawn():
            fed._inbound_spawn(link, peer, message)
        case Spawned(req=req, pid=pid, error=error):
            fed._resolve(peer, req, remote(pid) if pid else None, error or None)
        case PgSync(groups=groups):
            allowed = {
                group: pids
                for group, pids in groups.items()
                if allows(peer, PG_JOIN, GroupRef(group), {"members": len(pids)})
            }
            fed.pg.apply(peer, PgSync(allowed))
        case PgJoin(group=group, pids=pids):
            if allows(peer, PG_JOIN, GroupRef(group), {"members": len(pids)}):
                fed.pg.apply(peer, message)
        case PgLeave():
            fed.pg.apply(peer, message)
        case PgPublish(group=group, sender=sender, payload=payload):
            if allows(peer, PG_PUBLISH, GroupRef(group), {"size": _size(payload)}):
                for pid in fed.pg.local_members(group):
                    local.deliver(remote(sender), pid, payload)
