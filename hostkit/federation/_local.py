"""The seam between the federation and the local host (the router).

:class:`LocalNode` is what the federation calls on the host when a peer
asks for something (after the :class:`~hostkit.federation.PeerPolicy`
allowed it). The host's router implements it. Every method is synchronous
and must not block: they run on a link's reader task, which must keep
draining its socket (a full mailbox is a return value, not a wait).

The other direction -- what the router calls -- is the public API of
:class:`~hostkit.federation.Federation` (``send``, ``call``, ``reply``,
``spawn``, ``link``, ``monitor``, ``local_exited``, ``whereis``, ``pg_*``).

Exit reasons cross as ``(kind, detail)`` strings, the kinds of
``hostkit.ExitReason`` (so this package does not import the runtime).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

from ._identity import NodeId, RemotePid

#: ``hostkit.ExitReason.KINDS`` (a test keeps them equal once the router lands).
EXIT_KINDS: Final = frozenset(
    {
        "normal",
        "shutdown",
        "killed",
        "trap",
        "fuel",
        "deadline",
        "budget",
        "error",
        "host-error",
        "denied",
        "noproc",
        "noconnection",
        "protocol",
        "limit",
    }
)
NOCONNECTION: Final = "noconnection"
NOPROC: Final = "noproc"


class LocalNode(Protocol):
    """What the federation asks of the local host. Sync, never blocking.

    Optional: ``mailbox_length(pid) -> int | None`` (frames queued for local
    ``pid``; None if there is no such actor). With it, a peer's casts are
    credited back as the mailbox drains (flow control); without it, as soon
    as they were handed to :meth:`deliver`.
    """

    def deliver(self, sender: RemotePid | int, target: int, payload: bytes) -> str | None:
        """Enqueue a cast for local actor ``target``.

        ``sender`` is an int for a local sender (process groups). Returns None
        once enqueued, else why not: ``noproc``, ``mailbox-full`` or ``too-large``.
        """
        ...

    def deliver_call(
        self, sender: RemotePid, target: int, ref: int, payload: bytes, timeout_ms: int
    ) -> str | None:
        """Enqueue a call; the local actor's reply goes back through
        ``Federation.reply(sender, target, ref, ...)``. Returns like :meth:`deliver`."""
        ...

    def deliver_reply(self, sender: RemotePid, target: int, ref: int, payload: bytes) -> None:
        """A remote actor answered local ``target``'s call ``ref`` (drop it
        unless that call is outstanding and was made to ``sender``)."""
        ...

    def undeliverable(self, sender: int, target: RemotePid, tag: int, reason: str) -> None:
        """A send or call (``tag``: its tag or call ref) by local ``sender``
        did not reach ``target``; ``reason`` as for :meth:`deliver`, or ``denied``."""
        ...

    def whereis(self, name: str) -> int | None:
        """The local actor registered as ``name``."""
        ...

    def is_alive(self, pid: int) -> bool:
        """Whether local actor ``pid`` is running (link and monitor targets)."""
        ...

    def exit_signal(self, sender: RemotePid, target: int, kind: str, detail: str) -> None:
        """Linked remote ``sender`` exited (or its node went away: ``noconnection``)."""
        ...

    def down(self, target: RemotePid, watcher: int, ref: int, kind: str, detail: str) -> None:
        """DOWN for local ``watcher``'s monitor ``ref`` on remote ``target``."""
        ...

    async def spawn(
        self,
        peer: NodeId,
        component: str,
        digest: str,
        args: bytes,
        on_spawned: Callable[[int], None],
    ) -> int:
        """Start ``component`` (whose sha256 must equal ``digest``) for ``peer``.

        Call ``on_spawned(pid)`` synchronously once the pid exists and before
        the actor runs any code, so links and monitors are in place first.
        Return the pid; raise any exception (its text goes to the peer) if it
        could not be started.
        """
        ...

    def node_up(self, node: NodeId) -> None:
        """A link to ``node`` is up (node monitors, the host's event stream)."""
        ...

    def node_down(self, node: NodeId, reason: str) -> None:
        """The link to ``node`` is gone; links and monitors across it have fired."""
        ...
