"""The Trio driver of one link: a :class:`Connection` over a :class:`Channel`.

Three tasks per link: the reader feeds every byte it gets to the core and
hands the events to the handler synchronously (it never waits on anything
but the socket, so a slow or full local mailbox cannot stop it draining);
the writer takes bytes from the core at most ``write_limit`` at a time (so
a heartbeat is never stuck behind a large message); the timer calls
``handle_timer`` when the core asks. Transports only implement
:class:`Channel`.

Credit (with the ``credit`` flag): after every read, and every
``credit_poll`` seconds while some is still owed, the link grants the peer
back the casts its target actors' mailboxes no longer hold. It learns that
from ``mailbox_length(pid)`` (the host's; None: no such actor). Casts of
this peer still in the mailbox are at most ``min(owed, length)``, so
``owed - min(owed, length)`` were consumed (or refused): never more than
the actor drained is granted. Without ``mailbox_length`` (a LocalNode that
consumes at once) everything owed is granted after each read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Final, Protocol

import trio

from ._errors import AuthenticationFailed, NodeUnreachable, SendBufferFull
from ._identity import NodeId
from ._messages import ActorMessage, Send
from ._protocol import Connection, LinkClosed, PeerUp, PeerVerified, Received, State

DEFAULT_WRITE_LIMIT: Final = 64 * 1024


class Channel(Protocol):
    """A reliable, ordered, bidirectional byte channel (one per link).

    ``send_bytes`` raises :class:`trio.BrokenResourceError` (or
    ``ClosedResourceError``) when the channel failed; ``receive_bytes``
    returns ``b""`` at EOF.
    """

    #: True if the channel is encrypted and authenticated (TLS, QUIC, memory).
    secure: bool
    #: The remote address as text, for logs and audit records.
    remote: str
    #: The TLS channel binding (SHA-256 of the server's certificate), or
    #: ``b""`` when the channel is not TLS (memory, plain websocket).
    binding: bytes

    async def send_bytes(self, data: bytes) -> None: ...

    async def receive_bytes(self) -> bytes: ...

    async def aclose(self) -> None: ...


class Transport(Protocol):
    """Makes channels: dials addresses and serves one. Each transport is an adapter."""

    def open_channel(self, address: str) -> AbstractAsyncContextManager[Channel]:
        """Dial ``address``; the channel lives for the ``async with`` block.

        Raises:
            NodeUnreachable: nothing answers there.
            AuthenticationFailed: plain transport off loopback (not allowed).
        """
        ...

    async def serve(
        self,
        address: str,
        on_channel: Callable[[Channel], Awaitable[None]],
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept channels on ``address`` until cancelled, calling ``on_channel``
        in a new task for each; ``task_status.started`` gets the bound address."""
        ...


class LinkHandler(Protocol):
    """What a link reports to its owner (the :class:`Federation`). All sync."""

    def link_verified(self, link: Link, event: PeerVerified) -> str | None:
        """Return None to accept the verified peer, or the reason to refuse it."""
        ...

    def link_up(self, link: Link, event: PeerUp) -> None: ...

    def link_received(self, link: Link, event: Received) -> None: ...

    def link_closed(self, link: Link, event: LinkClosed) -> None: ...


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (brackets allowed)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_secure(host: str, secure: bool, allow_insecure: bool) -> None:
    """Refuse a plain (non-TLS) link off loopback unless explicitly allowed.

    Raises:
        AuthenticationFailed: ``host`` is not loopback, the channel is plain,
            and ``allow_insecure`` is False.
    """
    if not secure and not allow_insecure and not is_loopback(host):
        raise AuthenticationFailed(
            f"refusing a plain (non-TLS) federation link with {host!r}: use TLS "
            "(wss:// with an ssl context, or QUIC) off loopback"
        )


class Link:
    """One running link. Made by :class:`Federation`; you get it in events."""

    def __init__(
        self,
        connection: Connection,
        channel: Channel,
        handler: LinkHandler,
        *,
        write_limit: int = DEFAULT_WRITE_LIMIT,
        mailbox_length: Callable[[int], int | None] | None = None,
    ) -> None:
        self.connection = connection
        self.channel = channel
        self._handler = handler
        self._write_limit = write_limit
        self._mailbox_length = mailbox_length
        self._wakeup = trio.Event()
        self._room = trio.Event()
        self._owing = trio.Event()
        self._epoch = connection.credit_epoch
        self.done = trio.Event()

    @property
    def peer(self) -> NodeId | None:
        """The peer's node id, once it said who it is."""
        return self.connection.peer

    @property
    def up(self) -> bool:
        """True while the handshake is complete and the link is open."""
        return self.connection.state is State.ESTABLISHED

    async def run(self) -> None:
        """Run the link until it closes; always closes the channel."""
        conn = self.connection
        try:
            self._drain()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._reader)
                nursery.start_soon(self._timer)
                nursery.start_soon(self._credit_poller)
                await self._writer()
                nursery.cancel_scope.cancel()
        finally:
            if not conn.closed:
                conn.connection_lost("link task cancelled")
                self._drain()
            self._room.set()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await self.channel.aclose()
            self.done.set()

    async def send(self, message: ActorMessage) -> None:
        """Queue ``message``, waiting while the send buffer is full or (for a
        cast, with the ``credit`` flag) the target has no credit left.

        Raises:
            NodeUnreachable: the link is closed (or closes while waiting).
        """
        conn = self.connection
        limit = conn.config.send_buffer
        target = message.to if type(message) is Send else None
        while not conn.closed and (
            conn.buffered >= limit or (target is not None and conn.credit_left(target) == 0)
        ):
            if self._room.is_set():
                self._room = trio.Event()
            await self._room.wait()
        self._queue(message, bounded=False)

    def send_nowait(self, message: ActorMessage) -> None:
        """Queue ``message`` now, or fail.

        Raises:
            NodeUnreachable: the link is not up.
            SendBufferFull: ``send_buffer`` bytes are queued already.
            NoCredit: a cast whose target has no credit left.
        """
        self._queue(message, bounded=True)

    def send_reply(self, message: ActorMessage) -> None:
        """Queue an answer generated while reading (never waits, never fails
        for a full buffer); a peer that lets answers pile up past twice the
        send buffer is not reading them, and the link is closed."""
        conn = self.connection
        if conn.closed:
            return
        if conn.buffered >= 2 * conn.config.send_buffer:
            conn.fail("peer does not read what it asked for")
            self._drain()
            return
        self._queue(message, bounded=False)

    def _queue(self, message: ActorMessage, *, bounded: bool) -> None:
        conn = self.connection
        name = conn.peer.name if conn.peer else self.channel.remote
        if not self.up:
            raise NodeUnreachable(name, f"link is {conn.state.value}")
        if bounded and conn.buffered >= conn.config.send_buffer:
            raise SendBufferFull(name, conn.config.send_buffer)
        conn.queue(message)
        self._wakeup.set()

    def close(self, reason: str = "") -> None:
        """Say Bye and close once it is written."""
        self.connection.close(reason)
        self._drain()
        self._wakeup.set()

    def _drain(self) -> None:
        conn = self.connection
        while (event := conn.next_event()) is not None:
            match event:
                case Received():
                    self._handler.link_received(self, event)
                case PeerVerified():
                    refusal = self._handler.link_verified(self, event)
                    if refusal is None:
                        conn.accept()
                    else:
                        conn.refuse(refusal)
                case PeerUp():
                    self._handler.link_up(self, event)
                case LinkClosed():
                    self._room.set()
                    self._handler.link_closed(self, event)
        self._wakeup.set()

    async def _reader(self) -> None:
        conn = self.connection
        while not conn.closed:
            try:
                data = await self.channel.receive_bytes()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                conn.connection_lost(f"receive failed: {exc!r}")
            else:
                conn.receive_data(data)
            self._drain()
            if conn.credit_epoch != self._epoch:  # the peer granted credit
                self._epoch = conn.credit_epoch
                self._room.set()
            if conn.owed and self._grant_credit():
                self._owing.set()

    def _grant_credit(self) -> bool:
        """Grant back what the targets' mailboxes drained; True if some is still owed."""
        conn = self.connection
        length = self._mailbox_length
        for target, owed in list(conn.owed.items()):
            held = length(target) if length is not None else 0
            give = owed if held is None else owed - min(owed, held)
            if give:
                conn.grant(target, give)
        self._wakeup.set()
        return bool(conn.owed)

    async def _credit_poller(self) -> None:
        conn = self.connection
        while not conn.closed:
            await self._owing.wait()
            self._owing = trio.Event()
            if not conn.closed and conn.owed and self._grant_credit():
                await trio.sleep(conn.config.credit_poll)  # look again (the reader may not)
                self._owing.set()

    async def _timer(self) -> None:
        conn = self.connection
        while (deadline := conn.next_timer()) is not None:
            await trio.sleep_until(deadline)
            conn.handle_timer(trio.current_time())
            self._drain()

    async def _writer(self) -> None:
        conn = self.connection
        limit = conn.config.send_buffer
        while True:
            self._wakeup = trio.Event()
            while data := conn.data_to_send(self._write_limit):
                try:
                    await self.channel.send_bytes(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                    conn.connection_lost(f"send failed: {exc!r}")
                    self._drain()
                    return
                if conn.buffered < limit:
                    self._room.set()
            if conn.closed:
                return
            await self._wakeup.wait()
