"""The public seam where remote delivery (federation) joins a host.

``Host.remote_port()`` is a host's one :class:`RemotePort`: everything
remote delivery may do to this host's actors, inbound, through the
router's checks and bounds. ``port.attach(delivery, resolver)`` (or
``Host.attach_remote``) installs the two halves the router needs for other
nodes' pids -- :class:`RemoteDelivery` (outbound signals) and
:class:`PidResolver` (a guest's ``u64`` with a node slot). The port is the
only handle federation holds on a host; nothing in it reaches past the
router, the links and the capability gate's identities.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._frames import frame
from .._pid import ExitReason, Pid
from ._actors import Waiter
from ._remote_types import PidResolver, RemoteDelivery
from ._router import NOPROC, TOO_LARGE

if TYPE_CHECKING:
    from ._host import Host

__all__ = ["PidResolver", "RemoteDelivery", "RemotePort"]

#: A call's outcome as :meth:`RemotePort.start_call` reports it: the reply
#: payload, or None and ``(reason, detail)``.
CallDone = Callable[[bytes | None, tuple[str, str | None] | None], None]


class RemotePort:
    """What remote delivery may do to one host's actors (``Host.remote_port()``;
    not constructed directly).

    All methods are synchronous, never block and are called on the host's
    Trio thread (``start_call``'s ``on_done`` runs on whichever thread the
    callee answered on).
    """

    def __init__(self, host: Host) -> None:
        self._router = host._router
        self._links = host._sched.links
        self._identity_of = getattr(host._capabilities, "identity_of", None)

    def attach(self, delivery: RemoteDelivery, resolver: PidResolver) -> RemotePort:
        """Route other nodes' pids through ``delivery``; decode guests'
        node-slot pids with ``resolver``. Returns this port.

        Raises:
            RuntimeError: remote delivery is attached already.
        """
        router = self._router
        if router.remote is not None:
            raise RuntimeError("this host already has remote delivery attached; detach it first")
        router.remote = delivery
        router.resolver = resolver
        return self

    def detach(self) -> None:
        """Stop routing other nodes' pids: they are ``noproc`` again, and
        guests' node slots name nothing."""
        self._router.remote = None
        self._router.resolver = None

    @property
    def max_message_size(self) -> int:
        """The host's ``max_message_size`` in bytes."""
        return self._router.max_size

    def is_alive(self, pid: int) -> bool:
        """Whether local actor ``pid`` is running."""
        return pid in self._router.actors

    def mailbox_length(self, pid: int) -> int | None:
        """Frames in local actor ``pid``'s mailbox, or None (no such actor):
        federation grants a peer credit back as the mailbox drains."""
        actor = self._router.actors.get(pid)
        return None if actor is None else len(actor.mailbox)

    def component_of(self, pid: int) -> Any | None:
        """The loaded component local actor ``pid`` runs, or None."""
        actor = self._router.actors.get(pid)
        return None if actor is None else actor.component

    def identity_of(self, component: Any) -> Any | None:
        """The capability gate's ``PluginIdentity`` for ``component``, or None
        when the host has no gate."""
        return None if self._identity_of is None else self._identity_of(component)

    def check_remote_link(self, actor: int, node: str) -> str | None:
        """The capability gate's ``check_remote_link`` for local ``actor``
        linking with an actor of ``node`` (a guest's ``spawn_link``): None
        to allow (also without a gate), or why not. Decided and audited."""
        gate = self._router.gate
        found = self._router.actors.get(actor)
        if gate is None:
            return None
        if found is None:
            return f"actor {actor} is not alive"
        return gate.check_remote_link(found, Pid(0, node, 0))

    def check_remote_monitor(self, actor: int, node: str) -> str | None:
        """The capability gate's ``check_remote_monitor`` for local ``actor``
        monitoring an actor of ``node`` (a guest's spawn with monitor): None
        to allow (also without a gate), or why not. Decided and audited."""
        gate = self._router.gate
        found = self._router.actors.get(actor)
        if gate is None:
            return None
        if found is None:
            return f"actor {actor} is not alive"
        return gate.check_remote_monitor(found, Pid(0, node, 0))

    def reserve_monitor(self, watcher_pid: int) -> int | None:
        """Register a monitor of local actor ``watcher_pid`` on an actor not
        spawned yet (a spawn with monitor): its ref, or None (no such
        actor). Call before the spawn request leaves, so a DOWN that
        arrives with the spawn's answer is not lost; then
        :meth:`fill_monitor`, or :meth:`release_monitor` if the spawn failed."""
        actor = self._router.actors.get(watcher_pid)
        if actor is None:
            return None
        return self._links.reserve_remote(actor)

    def fill_monitor(self, ref: int, wire: int, pid: Pid) -> bool:
        """Complete the reserved ``ref`` with the spawned actor (``wire``: its
        guest ``u64``); False if the ref is gone (its DOWN came first, or
        the watcher ended)."""
        return self._links.fill_remote(ref, wire, pid)

    def release_monitor(self, ref: int) -> None:
        """Drop the reserved ``ref`` without a DOWN (its spawn failed)."""
        self._links.release_remote(ref)

    def deliver(self, sender: int, target: int, payload: bytes) -> str | None:
        """Cast ``payload`` to local actor ``target`` from ``sender`` (the
        guest-visible ``u64`` of the remote sender): None, or the
        send-error name (``noproc``, ``too-large``, ``mailbox-full``)."""
        actor = self._router.actors.get(target)
        if actor is None:
            return NOPROC
        if len(payload) > self._router.max_size:
            return TOO_LARGE
        return self._router.push(actor, frame(b"c", sender, 0, payload))

    def undeliverable(self, sender: int, target: int, tag: int, reason: str) -> bool:
        """Tell local actor ``sender`` that its cast tagged ``tag`` to
        ``target`` (a guest ``u64``) was not delivered (a ``u`` frame).
        False if ``sender`` is not a live actor."""
        actor = self._router.actors.get(sender)
        if actor is None:
            return False
        self._router.push(actor, frame(b"u", target, tag, reason.encode()[:64]), system=True)
        return True

    def start_call(
        self, caller: int, target: int, payload: bytes, on_done: CallDone, timeout_ms: int
    ) -> tuple[str | None, int]:
        """Call local actor ``target`` for a remote caller (``caller``: its
        guest-visible ``u64``, the pid the callee sees); ``on_done`` gets
        the outcome. Returns the send-error name (None when enqueued) and
        the call's ref (for :meth:`cancel_call`)."""

        def done(waiter: Waiter) -> None:
            on_done(waiter.value, waiter.error)

        waiter = Waiter(target, on_done=done)
        return self._router.start_call(None, target, payload, waiter, timeout_ms, caller)

    def cancel_call(self, ref: int) -> None:
        """Give up on a call from :meth:`start_call` (its answer is dropped)."""
        self._router.cancel_call(ref)

    def call_pending(self, ref: int) -> bool:
        """Whether the call ``ref`` (made through the delivery) still waits."""
        return ref in self._router.calls

    def resolve_call(
        self, ref: int, payload: bytes | None, error: tuple[str, str | None] | None = None
    ) -> bool:
        """Answer the call ``ref`` that went to another node (see
        ``Router.remote_reply``); False if it is not pending."""
        return self._router.remote_reply(ref, payload, error)

    def exit_signal(self, sender: Pid, target: int, kind: str, detail: str = "") -> None:
        """An exit signal from ``sender`` (another node's actor linked to
        ``target``), with Erlang's rules (see ``Links.exit_signal``)."""
        actor = self._router.actors.get(target)
        if actor is not None:
            self._links.exit_signal(actor, sender, ExitReason(kind, detail))

    def down(
        self,
        ref: int,
        kind: str,
        detail: str = "",
        *,
        wire: int | None = None,
        pid: Pid | None = None,
    ) -> None:
        """The DOWN of the monitor ``ref`` on another node's actor. ``wire``
        (the actor's guest ``u64``) and ``pid`` fill in a ref reserved by
        :meth:`reserve_monitor` whose spawn has not answered yet."""
        if wire is not None and pid is not None:
            self._links.fill_remote(ref, wire, pid)
        self._links.remote_down(ref, 0, ExitReason(kind, detail), wire=wire)
