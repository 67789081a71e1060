"""Other nodes, for guests: the pid layout and ``hostkit:federation/remote``.

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

``node_slot``, ``is_local`` and ``local_id`` are pure. ``node_of``,
``whereis`` and ``spawn`` are host functions (the guest's world must
import ``hostkit:federation/remote``, e.g. ``hostkit:federation/federated-plugin``),
each decided by the host's policy; a refusal raises
:class:`~hostkit_guest.HostCallDenied`, other failures
:class:`~hostkit_guest.HostCallFailed` (``not-found``, ``io``, ``timeout``...).
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any, Final

from ._app import failure_of
from ._errors import HostCallFailed

__all__ = [
    "LOCAL_ID_BITS",
    "is_local",
    "local_id",
    "node_of",
    "node_slot",
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
    """Import the ``remote`` bindings if the guest's world has them (at
    build time, so componentize-py's snapshot holds them)."""
    with contextlib.suppress(ImportError):
        _loaded["remote"] = importlib.import_module("wit_world.imports.remote")


def _module() -> Any:
    found = _loaded.get("remote")
    if found is None:
        raise HostCallFailed(
            "remote",
            "unsupported",
            "this guest's world does not import hostkit:federation/remote",
        )
    return found


def _call(function: str, *args: Any) -> Any:
    fn = getattr(_module(), function)
    from componentize_py_types import Err  # type: ignore[import-not-found]

    try:
        return fn(*args)
    except Err as exc:
        raise failure_of(f"remote.{function}", exc.value) from None


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


def spawn(
    node: str,
    component: str,
    digest: str,
    args: str = "",
    *,
    link: bool = False,
    timeout_ms: int = 30_000,
) -> int:
    """Start ``component`` (sha256 ``digest``) on ``node``; its pid. With
    ``link``, this actor is linked to it before it runs (``spawn_link``).

    Raises:
        HostCallFailed: ``invalid`` (bad digest, or ``node`` is this node:
            use ``Process.spawn``), ``io`` (not connected, or the start
            failed there), ``timeout``.
        HostCallDenied: this node's or ``node``'s policy refused.
    """
    pid: int = _call("spawn", node, component, digest, args, link, timeout_ms)
    return pid
