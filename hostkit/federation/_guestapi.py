"""``hostkit:federation/remote``: what guests may ask about other nodes.

The WIT interface (``wit/federation/federation.wit``) is implemented as an
ordinary hostkit provider: pluggy hooks behind the capability gate, so each
call is a Cedar decision (``Action::"hostkit:federation/remote#<function>"``,
principal the calling ``Plugin``, resource ``Node::"<node>"``) with an audit
record, before the hook runs. Register it on the gate's plugin manager, then
bind it to the host's federation::

    remote = GuestRemote()
    plugins = pluggy.PluginManager("hostkit")
    remote.register(plugins)
    gate = Gate(plugins, policies=..., schema=federation_schema())
    async with open_host(cfg, capabilities=gate) as host, open_host_federation(
        host, guest_remote=remote, ...
    ) as federation:
        ...

Most hooks run on scheduler threads. ``whereis``, ``spawn`` and
``spawn-monitor``, which wait for another node, are async hookimpls: the
guest's call is suspended (no scheduler thread held) while they run on the
host's Trio loop, never longer than the guest's ``timeout-ms`` nor past its
activation deadline.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Final, Literal, TypeVar

import pluggy
import trio

from .._errors import CallTimeout, FederationError, NoProc, SpawnError
from .._pid import Pid
from ._errors import FederationConfigError, NodeUnreachable
from ._identity import RemotePid
from ._messages import PgPublish
from ._pg import MAX_GROUP_NAME

if TYPE_CHECKING:
    from ..capabilities import CallContext, Entity
    from ._hostbridge import HostBridge

# hostkit's marker pair, made here too: importing hostkit.capabilities (which
# loads wasmtime) must stay out of `import hostkit.federation`. Markers of
# the same project name are interchangeable.
hookspec = pluggy.HookspecMarker("hostkit")
hookimpl = pluggy.HookimplMarker("hostkit")

__all__ = ["GroupsHookspecs", "GuestRemote", "RemoteHookspecs"]

INTERFACE: Final = "hostkit:federation/remote"
NODE_OF: Final = f"{INTERFACE}#node-of"
WHEREIS: Final = f"{INTERFACE}#whereis"
SPAWN: Final = f"{INTERFACE}#spawn"
SPAWN_MONITOR: Final = f"{INTERFACE}#spawn-monitor"
GROUPS: Final = "hostkit:federation/groups"
GROUP_ACTIONS: Final = frozenset(
    f"{GROUPS}#{name}" for name in ("join", "leave", "members", "publish")
)
_T = TypeVar("_T")


class RemoteHookspecs:
    """The hooks of ``hostkit:federation/remote`` (see its WIT for the contract)."""

    @hookspec(firstresult=True)
    def remote_node_of(self, ctx: CallContext, target: int) -> str | None:
        """``node-of``: the node name of a guest's pid."""

    @hookspec(firstresult=True)
    def remote_whereis(self, ctx: CallContext, node: str, name: str, timeout_ms: int) -> int | None:
        """``whereis``: the guest-visible pid registered as ``name`` on ``node``."""

    @hookspec(firstresult=True)
    def remote_spawn(
        self,
        ctx: CallContext,
        node: str,
        component: str,
        digest: str,
        args: str,
        link: bool,
        timeout_ms: int,
    ) -> int | None:
        """``spawn``: start a component on ``node`` (linked to the caller
        first with ``link``); its guest-visible pid."""

    @hookspec(firstresult=True)
    def remote_spawn_monitor(
        self,
        ctx: CallContext,
        node: str,
        component: str,
        digest: str,
        args: str,
        link: bool,
        timeout_ms: int,
    ) -> tuple[int, int] | None:
        """``spawn-monitor``: start a component on ``node`` monitored by the
        caller before it runs; its guest-visible pid and the monitor's ref."""


class GroupsHookspecs:
    """The hooks of ``hostkit:federation/groups`` (see its WIT for the contract)."""

    @hookspec(firstresult=True)
    def groups_join(self, ctx: CallContext, group: str) -> bool | None:
        """``join``: the caller joins ``group`` (True: done)."""

    @hookspec(firstresult=True)
    def groups_leave(self, ctx: CallContext, group: str) -> bool | None:
        """``leave``: the caller leaves ``group`` once (True: done)."""

    @hookspec(firstresult=True)
    def groups_members(self, ctx: CallContext, group: str) -> list[int] | None:
        """``members``: guest-visible pids of ``group``'s members."""

    @hookspec(firstresult=True)
    def groups_publish(self, ctx: CallContext, group: str, payload: bytes) -> int | None:
        """``publish``: ``payload`` to every member; how many it went to."""


class GuestRemote:
    """The stock provider of ``hostkit:federation/remote``.

    One per host: :meth:`register` it on the plugin manager of the host's
    `Gate`, and pass it to :func:`open_host_federation` (``guest_remote=``),
    which binds it to that federation while it runs. Unbound, every call
    fails with ``unsupported``. It serves ``hostkit:federation/groups`` too
    (process groups), within these limits:

    Attributes:
        MAX_JOINS_PER_ACTOR: joins one actor may hold at once, over all
            groups (a repeated join counts again); past it ``too-large``.
        MAX_MEMBERS: pids one ``members`` answer holds at most (the first
            ones, this node's first).
        MAX_PUBLISH_PAYLOAD: bytes of one ``publish`` payload; past it
            ``too-large`` (the host's message size limit applies too).
    """

    MAX_JOINS_PER_ACTOR: Final = 64
    MAX_MEMBERS: Final = 1024
    MAX_PUBLISH_PAYLOAD: Final = 65_536

    def __init__(self) -> None:
        self._bridge: HostBridge | None = None

    def register(self, plugins: pluggy.PluginManager) -> None:
        """Add the hookspecs and this provider to ``plugins`` (before the
        `Gate` is made, or at least before a component importing the
        interface is loaded)."""
        for spec, first in ((RemoteHookspecs, "remote_node_of"), (GroupsHookspecs, "groups_join")):
            caller = getattr(plugins.hook, first, None)
            if caller is None or not caller.has_spec():
                plugins.add_hookspecs(spec)
        plugins.register(self)

    def bind(self, bridge: HostBridge | None) -> None:
        """Serve calls through ``bridge`` (None: unbind). Done by
        :func:`open_host_federation`."""
        self._bridge = bridge

    def _bound(self) -> HostBridge:
        bridge = self._bridge
        if bridge is None or bridge.closed:
            from ..capabilities._host_errors import HostCallUnsupported

            raise HostCallUnsupported("this host is not federated (no open_host_federation)")
        return bridge

    # -- the Cedar resource ------------------------------------------------

    @hookimpl
    def hostkit_resource(
        self, ctx: CallContext, action: str, args: Mapping[str, object]
    ) -> tuple[str, str] | Entity | None:
        """``Node::"<node>"`` for ``remote``'s actions, ``ProcessGroup::"<group>"``
        for ``groups``'; None for others."""
        if action in GROUP_ACTIONS:
            from ..capabilities import Entity

            group = str(args["group"])
            return Entity.of("ProcessGroup", group, name=group)
        if action in (WHEREIS, SPAWN, SPAWN_MONITOR):
            return ("Node", str(args["node"]))
        if action == NODE_OF:
            bridge = self._bridge
            target = args["target"]
            if bridge is None or not isinstance(target, int):
                return ("Node", "")
            return ("Node", self._node_name(bridge, target) or "")
        return None

    # -- the functions -----------------------------------------------------

    @staticmethod
    def _node_name(bridge: HostBridge, target: int) -> str | None:
        try:
            decoded = bridge.slots.decode(target)
        except FederationConfigError:
            return None
        return bridge.host.node if isinstance(decoded, int) else decoded.node

    @hookimpl
    def remote_node_of(self, ctx: CallContext, target: int) -> str:
        name = self._node_name(self._bound(), target)
        if name is None:
            from ..capabilities._host_errors import HostCallNotFound

            raise HostCallNotFound(f"pid {target:#x} names no node this host has seen")
        return name

    @hookimpl
    async def remote_whereis(self, ctx: CallContext, node: str, name: str, timeout_ms: int) -> int:
        from ..capabilities._host_errors import HostCallNotFound

        bridge = self._bound()
        seconds = _budget(ctx, timeout_ms)
        if node == bridge.host.node:
            local = bridge.whereis(name)
            if local is None:
                raise HostCallNotFound(f"no actor is registered as {name!r} on {node!r}")
            return local
        found: RemotePid | None = await _wait(
            lambda: bridge.federation.whereis(node, name, timeout=seconds), seconds
        )
        if found is None:
            raise HostCallNotFound(f"no actor is registered as {name!r} on {node!r}")
        return bridge.slots.encode(found)

    @hookimpl
    async def remote_spawn(
        self,
        ctx: CallContext,
        node: str,
        component: str,
        digest: str,
        args: str,
        link: bool,
        timeout_ms: int,
    ) -> int:
        from ..capabilities._host_errors import HostCallDenied, HostCallInvalid

        bridge = self._bound()
        seconds = _budget(ctx, timeout_ms)
        if node == bridge.host.node:
            raise HostCallInvalid(
                f"{node!r} is this node: start local actors with hostkit:plugin/process#spawn"
            )
        if link:  # spawn_link is a link too: the gate decides that as well
            why = bridge.port.check_remote_link(ctx.pid, node)
            if why is not None:
                raise HostCallDenied(why)
        child: RemotePid = await _wait(
            lambda: bridge.federation.spawn(
                node, component, digest, args.encode(), sender=ctx.pid, link=link, timeout=seconds
            ),
            seconds,
        )
        return bridge.slots.encode(child)

    @hookimpl
    async def remote_spawn_monitor(
        self,
        ctx: CallContext,
        node: str,
        component: str,
        digest: str,
        args: str,
        link: bool,
        timeout_ms: int,
    ) -> tuple[int, int]:
        from ..capabilities._host_errors import HostCallDenied, HostCallInvalid, HostCallNotFound

        bridge = self._bound()
        seconds = _budget(ctx, timeout_ms)
        if node == bridge.host.node:
            raise HostCallInvalid(
                f"{node!r} is this node: start local actors with hostkit:plugin/process#spawn "
                "and monitor them with hostkit:plugin/process#monitor"
            )
        # a monitor of another node's actor: the gate decides that as well
        why = bridge.port.check_remote_monitor(ctx.pid, node)
        if why is None and link:
            why = bridge.port.check_remote_link(ctx.pid, node)
        if why is not None:
            raise HostCallDenied(why)
        port = bridge.port
        # Reserved before the request leaves: the child's DOWN can be read in
        # the same batch as the spawn's answer, before this hook learns the
        # pid; it must find the ref.
        ref = port.reserve_monitor(ctx.pid)
        if ref is None:
            raise HostCallNotFound(f"actor {ctx.pid} is not alive")
        try:
            child: RemotePid = await _wait(
                lambda: bridge.federation.spawn(
                    node,
                    component,
                    digest,
                    args.encode(),
                    sender=ctx.pid,
                    link=link,
                    monitor_ref=ref,
                    timeout=seconds,
                ),
                seconds,
            )
            wire = bridge.slots.encode(child)
        except BaseException:  # also Cancelled (the guest was killed): no leak
            port.release_monitor(ref)
            raise
        port.fill_monitor(ref, wire, Pid(child.id, child.node, child.creation))
        return wire, ref

    # -- process groups ----------------------------------------------------

    @hookimpl
    def groups_join(self, ctx: CallContext, group: str) -> Literal[True]:
        from ..capabilities._host_errors import HostCallTooLarge

        bridge = self._bound()
        _check_group(group)
        limit = self.MAX_JOINS_PER_ACTOR

        def join() -> bool:
            fed = bridge.federation
            if fed.pg.joins_of(ctx.pid) >= limit:
                return False
            fed.pg_join(group, [ctx.pid])
            return True

        if not _on_trio(bridge, join):
            raise HostCallTooLarge(
                f"an actor holds at most {limit} group joins (MAX_JOINS_PER_ACTOR): leave one first"
            )
        return True

    @hookimpl
    def groups_leave(self, ctx: CallContext, group: str) -> Literal[True]:
        from ..capabilities._host_errors import HostCallNotFound

        bridge = self._bound()
        _check_group(group)

        def leave() -> bool:
            fed = bridge.federation
            if ctx.pid not in fed.pg.local_members(group):
                return False
            fed.pg_leave(group, [ctx.pid])
            return True

        if not _on_trio(bridge, leave):
            raise HostCallNotFound(f"this actor is not a member of group {group!r}")
        return True

    @hookimpl
    def groups_members(self, ctx: CallContext, group: str) -> list[int]:
        bridge = self._bound()
        _check_group(group)
        limit = self.MAX_MEMBERS

        def members() -> list[int]:
            out: list[int] = []
            for member in bridge.federation.pg_members(group):
                if len(out) >= limit:
                    break
                wire = member if isinstance(member, int) else bridge._wire(member)
                if wire is not None:  # a hostile peer's id past 48 bits names nothing
                    out.append(wire)
            return out

        return _on_trio(bridge, members)

    @hookimpl
    def groups_publish(self, ctx: CallContext, group: str, payload: bytes) -> int:
        from ..capabilities._host_errors import HostCallTooLarge

        bridge = self._bound()
        _check_group(group)
        limit = min(self.MAX_PUBLISH_PAYLOAD, bridge.port.max_message_size)
        if len(payload) > limit:
            raise HostCallTooLarge(
                f"a publish payload is at most {limit} bytes (MAX_PUBLISH_PAYLOAD); "
                f"got {len(payload)}"
            )
        data = bytes(payload)
        return _on_trio(bridge, lambda: _publish(bridge, group, ctx.pid, data))


def _check_group(group: str) -> None:
    if not 0 < len(group) <= MAX_GROUP_NAME:
        from ..capabilities._host_errors import HostCallInvalid

        raise HostCallInvalid(f"group name of {len(group)} characters: use 1-{MAX_GROUP_NAME}")


def _publish(bridge: HostBridge, group: str, sender: int, payload: bytes) -> int:
    """Deliver to local members, and send one ``PgPublish`` to each node with
    members (on the Trio thread); how many members it went to."""
    fed = bridge.federation
    bridge._drain()  # what the sender queued before (sends, links) goes first
    count = 0
    for pid in fed.pg.local_members(group):
        if bridge.deliver(sender, pid, payload) is None:
            count += 1
    for node in fed.pg.nodes_with_members(group):
        try:
            link = fed.link_to(node.name)
            if link.peer != node:
                continue
            link.send_nowait(PgPublish(group, sender, payload))
        except (FederationError, NoProc):  # unreachable, a full buffer: not sent there
            continue
        count += fed.pg.remote_members(node, group)
    return count


def _budget(ctx: CallContext, timeout_ms: int) -> float:
    """Seconds a call may wait: its ``timeout-ms``, capped by the deadline."""
    seconds = timeout_ms / 1000
    left = ctx.remaining()
    if left is not None:
        seconds = min(seconds, left)
    if not seconds > 0 or math.isnan(seconds):
        from ..capabilities._host_errors import HostCallTimeout

        raise HostCallTimeout()
    return seconds


def _on_trio(bridge: HostBridge, fn: Callable[[], _T]) -> _T:
    if threading.get_ident() == bridge._thread:
        return fn()
    return trio.from_thread.run_sync(fn, trio_token=bridge._token)


async def _wait(make: Callable[[], Awaitable[_T]], seconds: float) -> _T:
    """Await ``make()`` (an async hookimpl: on the host's Trio loop, the
    guest's call suspended), mapping federation errors onto WIT errors."""
    from ..capabilities._host_errors import (
        HostCallDenied,
        HostCallInvalid,
        HostCallIOError,
        HostCallTimeout,
    )

    try:
        with trio.fail_after(seconds + 1.0):  # the federation's own timeout fires first
            result: _T = await make()
    except (CallTimeout, trio.TooSlowError):
        raise HostCallTimeout() from None
    except NodeUnreachable as exc:
        raise HostCallIOError(f"not connected: {exc}") from None
    except FederationConfigError as exc:
        raise HostCallInvalid(str(exc)) from None
    except SpawnError as exc:
        if "denied" in str(exc):
            raise HostCallDenied(str(exc)) from None
        raise HostCallIOError(str(exc)) from None
    except FederationError as exc:
        raise HostCallIOError(str(exc)) from None
    return result
