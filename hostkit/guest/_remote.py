"""Other nodes, for guests: the pid layout, ``hostkit:federation/remote``
and process groups (``hostkit:federation/groups``).

A pid is a ``u64`` whose high 16 bits are a *node slot* (0: this node) and
whose low 48 bits are the actor id on that node (see
``docs/reference/wire-format.md``). Pids of other nodes work wherever a pid
does -- ``Process.send``, ``call``, ``link``, ``monitor``, outbox sends --
and arrive as senders of casts and calls, in DOWN and exit frames::

    from hostkit_guest import remote

    if not remote.is_local(from_.pid):
        print("called from node", remote.node_of(from_.pid))
    svc = remote.whereis("billing-node", "invoices")   # {name, node}
    child = remote.spawn("worker-node", "worker", DIGEST, args="{}")
    child, ref = remote.spawn("worker-node", "worker", DIGEST, monitor=True)

Process groups (Erlang's ``pg``, hostkit's pub/sub) span every connected
node; an actor joins and leaves for itself, and leaves them all when it
ends::

    remote.join_group("prices")
    remote.group_members("prices")            # pids on every node, this one's first
    sent = remote.publish("prices", json.dumps({"eur": 1.09}))  # members it went to
    remote.leave_group("prices")

Members receive a published payload as an ordinary cast from the publisher
(a :class:`~hostkit_guest.GenServer` decodes it as JSON for ``handle_cast``,
as it does every cast: so publish JSON to such members). Limits: group
names of 1-255 characters, 64 joins per actor at once, 1024 pids per
``group_members`` answer, 65,536 bytes per payload.

``node_slot``, ``is_local`` and ``local_id`` are pure. The rest are host
functions (the guest's world must import ``hostkit:federation/remote`` or
``hostkit:federation/groups``, e.g. ``hostkit:federation/federated-plugin``
imports both), each decided by the host's policy; a refusal raises
:class:`~hostkit_guest.HostCallDenied`, other failures
:class:`~hostkit_guest.HostCallFailed` (``not-found``, ``io``, ``timeout``,
``too-large``...).
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any, Final, Literal, overload

from ._app import failure_of
from ._errors import HostCallFailed

__all__ = [
    "LOCAL_ID_BITS",
    "group_members",
    "is_local",
    "join_group",
    "leave_group",
    "local_id",
    "node_of",
    "node_slot",
    "publish",
    "spawn",
    "whereis",
]

#: Bits of a pid that carry the actor id on its node.
LOCAL_ID_BITS: Final = 48
_LOCAL_MASK: Final = (1 << LOCAL_ID_BITS) - 1
_loaded: dict[str, Any] = {}


def node_slot(pid: int) -> int:
    """The node slot of ``pid``: 0 for this node, else the host's number
    for another node's boot (meaningful only on this host)."""
    return int(pid) >> LOCAL_ID_BITS


def is_local(pid: int) -> bool:
    """Whether ``pid`` names an actor of this node (or the host, 0)."""
    return node_slot(pid) == 0


def local_id(pid: int) -> int:
    """The actor id of ``pid`` on its own node (the low 48 bits)."""
    return int(pid) & _LOCAL_MASK


def preload() -> None:
    """Import the ``remote`` and ``groups`` bindings the guest's world has
    (at build time, so componentize-py's snapshot holds them)."""
    for interface in ("remote", "groups"):
        with contextlib.suppress(ImportError):
            _loaded[interface] = importlib.import_module(f"wit_world.imports.{interface}")


def _module(interface: str) -> Any:
    found = _loaded.get(interface)
    if found is None:
        raise HostCallFailed(
            interface,
            "unsupported",
            f"this guest's world does not import hostkit:federation/{interface}",
        )
    return found


def _call(function: str, *args: Any, interface: str = "remote") -> Any:
    fn = getattr(_module(interface), function)
    from componentize_py_types import Err  # type: ignore[import-not-found]

    try:
        return fn(*args)
    except Err as exc:
        raise failure_of(f"{interface}.{function}", exc.value) from None


def node_of(pid: int) -> str:
    """The name of the node ``pid`` lives on (this node's for a local pid)."""
    name: str = _call("node_of", int(pid))
    return name


def whereis(node: str, name: str, *, timeout_ms: int = 5000) -> int:
    """``{name, node}``: the pid registered as ``name`` on ``node``.

    Raises:
        HostCallFailed: ``not-found`` (nothing registered, or not visible to
            this node), ``io`` (node not connected), ``timeout``.
        HostCallDenied: the policy refused the lookup.
    """
    pid: int = _call("whereis", node, name, timeout_ms)
    return pid


@overload
def spawn(
    node: str,
    component: str,
    digest: str,
    args: str = ...,
    *,
    link: bool = ...,
    monitor: Literal[False] = ...,
    timeout_ms: int = ...,
) -> int: ...


@overload
def spawn(
    node: str,
    component: str,
    digest: str,
    args: str = ...,
    *,
    link: bool = ...,
    monitor: Literal[True],
    timeout_ms: int = ...,
) -> tuple[int, int]: ...


def spawn(
    node: str,
    component: str,
    digest: str,
    args: str = "",
    *,
    link: bool = False,
    monitor: bool = False,
    timeout_ms: int = 30_000,
) -> int | tuple[int, int]:
    """Start ``component`` (sha256 ``digest``) on ``node``; its pid. With
    ``link``, this actor is linked to it before it runs (``spawn_link``).

    With ``monitor``, this actor monitors it before it runs
    (``spawn_monitor``) and gets ``(pid, ref)``: when the new actor ends, a
    DOWN with that ref, that pid and its exit reason arrives (``noconnection``
    if the node's link is lost), even if it ended before this returned.
    The host decides ``hostkit:federation/remote#spawn-monitor`` and
    ``hostkit:federation#remote-monitor`` then.

    Raises:
        HostCallFailed: ``invalid`` (bad digest, or ``node`` is this node:
            use ``Process.spawn``), ``io`` (not connected, or the start
            failed there), ``timeout``.
        HostCallDenied: this node's or ``node``'s policy refused.
    """
    if monitor:
        pid, ref = _call("spawn_monitor", node, component, digest, args, link, timeout_ms)
        return int(pid), int(ref)
    found: int = _call("spawn", node, component, digest, args, link, timeout_ms)
    return found


def join_group(group: str) -> None:
    """Join ``group`` (once more if already a member: then this actor is
    listed, and published to, once per join).

    Raises:
        HostCallFailed: ``invalid`` (a name not of 1-255 characters),
            ``too-large`` (this actor holds 64 joins already).
        HostCallDenied: the policy refused (``hostkit:federation/groups#join``).
    """
    _call("join", group, interface="groups")


def leave_group(group: str) -> None:
    """Leave ``group`` once.

    Raises:
        HostCallFailed: ``not-found`` (this actor is not a member).
        HostCallDenied: the policy refused.
    """
    _call("leave", group, interface="groups")


def group_members(group: str) -> list[int]:
    """The members of ``group`` on this node and every connected node, this
    node's first, once per join; at most 1024 (the first ones).

    Raises:
        HostCallDenied: the policy refused.
    """
    pids: list[int] = list(_call("members", group, interface="groups"))
    return pids


def publish(group: str, payload: bytes | str) -> int:
    """Send ``payload`` to every member of ``group`` as a cast from this
    actor (to itself too, if it is a member); how many members it went to.
    ``payload`` is sent as is (a ``str`` as UTF-8); a
    :class:`~hostkit_guest.GenServer` member decodes casts as JSON, so send
    such members ``json.dumps(value)``.

    Delivery is at most once per member: a member whose mailbox is full is
    skipped, and members on a node whose link is down are not counted.

    Raises:
        HostCallFailed: ``too-large`` (over 65,536 bytes), ``invalid``.
        HostCallDenied: the policy refused.
    """
    data = payload.encode() if isinstance(payload, str) else bytes(payload)
    count: int = _call("publish", group, data, interface="groups")
    return count
