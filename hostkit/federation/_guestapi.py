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

Hooks run on scheduler threads; ``whereis`` and ``spawn`` wait for the
other node there (on the federation's Trio thread), never longer than the
guest's ``timeout-ms`` nor past its activation deadline.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

import pluggy
import trio

from .._errors import CallTimeout, FederationError, SpawnError
from ._errors import FederationConfigError, NodeUnreachable
from ._identity import RemotePid

if TYPE_CHECKING:
    from ..capabilities import CallContext
    from ._hostbridge import HostBridge

# hostkit's marker pair, made here too: importing hostkit.capabilities (which
# loads wasmtime) must stay out of `import hostkit.federation`. Markers of
# the same project name are interchangeable.
hookspec = pluggy.HookspecMarker("hostkit")
hookimpl = pluggy.HookimplMarker("hostkit")

__all__ = ["GuestRemote", "RemoteHookspecs"]

INTERFACE: Final = "hostkit:federation/remote"
NODE_OF: Final = f"{INTERFACE}#node-of"
WHEREIS: Final = f"{INTERFACE}#whereis"
SPAWN: Final = f"{INTERFACE}#spawn"
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


class GuestRemote:
    """The stock provider of ``hostkit:federation/remote``.

    One per host: :meth:`register` it on the plugin manager of the host's
    `Gate`, and pass it to :func:`open_host_federation` (``guest_remote=``),
    which binds it to that federation while it runs. Unbound, every call
    fails with ``unsupported``.
    """

    def __init__(self) -> None:
        self._bridge: HostBridge | None = None

    def register(self, plugins: pluggy.PluginManager) -> None:
        """Add the hookspecs and this provider to ``plugins`` (before the
        `Gate` is made, or at least before a component importing the
        interface is loaded)."""
        remote_node_of = getattr(plugins.hook, "remote_node_of", None)
        if remote_node_of is None or not remote_node_of.has_spec():
            plugins.add_hookspecs(RemoteHookspecs)
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
    ) -> tuple[str, str] | None:
        """``Node::"<node>"`` for this interface's actions; None for others."""
        if action in (WHEREIS, SPAWN):
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
    def remote_whereis(self, ctx: CallContext, node: str, name: str, timeout_ms: int) -> int:
        from ..capabilities._host_errors import HostCallNotFound

        bridge = self._bound()
        seconds = _budget(ctx, timeout_ms)
        if node == bridge.host.node:
            local = _on_trio(bridge, lambda: bridge.whereis(name))
            if local is None:
                raise HostCallNotFound(f"no actor is registered as {name!r} on {node!r}")
            return local
        found: RemotePid | None = _run(
            bridge, lambda: bridge.federation.whereis(node, name, timeout=seconds), seconds
        )
        if found is None:
            raise HostCallNotFound(f"no actor is registered as {name!r} on {node!r}")
        return bridge.slots.encode(found)

    @hookimpl
    def remote_spawn(
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
        child: RemotePid = _run(
            bridge,
            lambda: bridge.federation.spawn(
                node, component, digest, args.encode(), sender=ctx.pid, link=link, timeout=seconds
            ),
            seconds,
        )
        return bridge.slots.encode(child)


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


def _run(bridge: HostBridge, make: Callable[[], Awaitable[_T]], seconds: float) -> _T:
    """Run ``make()`` on the federation's Trio thread and wait for it here
    (a scheduler thread), mapping federation errors onto WIT errors."""
    from ..capabilities._host_errors import (
        HostCallDenied,
        HostCallInvalid,
        HostCallIOError,
        HostCallTimeout,
        HostCallUnsupported,
    )

    if threading.get_ident() == bridge._thread:
        raise HostCallUnsupported("cannot wait for another node on the host's Trio thread")

    async def run() -> Any:
        with trio.fail_after(seconds + 1.0):  # the federation's own timeout fires first
            return await make()

    try:
        result: _T = trio.from_thread.run(run, trio_token=bridge._token)
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
    except trio.RunFinishedError:
        raise HostCallUnsupported("the host is closing") from None
    return result
