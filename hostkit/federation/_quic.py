"""The QUIC transport: aioquic's sans-IO ``QuicConnection`` on a Trio UDP socket.

One QUIC connection per link and one bidirectional stream on it (stream 0,
opened by the dialler), so the link's bytes keep their order. QUIC always
runs TLS 1.3: the server presents a certificate, the client checks it
against its CA; the federation handshake then authenticates both nodes.

Driving aioquic: feed each datagram to ``receive_datagram(data, addr,
now)``, call ``handle_timer(now)`` at ``get_timer()``, and after either
(and after each ``send_stream_data``) send ``datagrams_to_send(now)``; read
``next_event()`` until None. The server routes datagrams by source address
(no connection migration) and creates a connection only for a full-size
Initial packet, up to ``max_connections``.

Channel binding (``_auth``): the server hashes the certificate file it
serves, the client the certificate aioquic received in the handshake
(``tls._peer_certificate``: aioquic has no public accessor, nor a TLS
exporter).
"""

from __future__ import annotations

import contextlib
import math
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import trio
from aioquic._buffer import Buffer  # aioquic.buffer re-exports it without __all__
from aioquic.quic.configuration import SMALLEST_MAX_DATAGRAM_SIZE, QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import (
    ConnectionTerminated,
    HandshakeCompleted,
    StreamDataReceived,
    StreamReset,
)
from aioquic.quic.packet import QuicPacketType, pull_quic_header

from ._auth import certificate_binding
from ._errors import FederationConfigError, NodeUnreachable
from ._link import Channel, is_loopback

ALPN: Final = "hostkit-federation/1"
STREAM: Final = 0  # the dialler's first bidirectional stream
LOOPBACK_DATAGRAM: Final = 16_000
UNACKED_LIMIT: Final = 1024 * 1024  # stream bytes in flight before send_bytes waits
_INBOX: Final = 256  # datagrams queued per server-side connection (then the reader waits)
_BURST: Final = 64  # datagrams fed to aioquic before it is asked what to send

Address = tuple[Any, ...]


def _host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise FederationConfigError(f"QUIC address {address!r} must be HOST:PORT")
    return host.strip("[]"), int(port)


class _QuicDriver:
    """Runs one QuicConnection; is also the link's :class:`Channel`."""

    secure = True

    def __init__(self, conn: QuicConnection, sock: trio.socket.SocketType, peer: Address) -> None:
        self._conn = conn
        self._sock = sock
        self._peer = peer
        self.remote = f"{peer[0]}:{peer[1]}"
        self.binding = b""
        self.handshake = trio.Event()
        self.terminated = trio.Event()
        self.why = ""
        self._acked = trio.Event()
        self._in_send, self._in_recv = trio.open_memory_channel[bytes](math.inf)
        self._wait = trio.CancelScope()
        self._send_lock = trio.Lock()

    # ------------------------------------------------------ Channel methods

    async def send_bytes(self, data: bytes) -> None:
        while self._unacked() > UNACKED_LIMIT and not self.terminated.is_set():
            self._acked = trio.Event()
            await self._acked.wait()
        if self.terminated.is_set():
            raise trio.BrokenResourceError(f"QUIC connection ended: {self.why}")
        self._conn.send_stream_data(STREAM, data)
        await self._transmit()
        self._rearm()

    def _rearm(self) -> None:
        # Sending may set an earlier timer (pacing, acks): wake the run loop for it.
        timer = self._conn.get_timer()
        if timer is not None and timer < self._wait.deadline:
            self._wait.deadline = timer

    async def receive_bytes(self) -> bytes:
        try:
            return await self._in_recv.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return b""

    async def aclose(self) -> None:
        if not self.terminated.is_set():
            self._conn.close(reason_phrase="link closed")
            await self._transmit()
        self._end("closed locally")

    # -------------------------------------------------------------- driving

    def _unacked(self) -> int:
        # aioquic has no public send-buffer size; its stream keeps unacked bytes here
        stream = self._conn._streams.get(STREAM)
        return len(stream.sender._buffer) if stream is not None else 0

    async def _transmit(self) -> None:
        # Two tasks transmit (the run loop and the link's writer). Interleaved
        # lists would reorder packets on the wire, which QUIC takes for loss.
        async with self._send_lock:
            for data, addr in self._conn.datagrams_to_send(now=trio.current_time()):
                with contextlib.suppress(OSError):  # as a lost datagram: QUIC retransmits
                    await self._sock.sendto(data, addr)

    def _end(self, why: str) -> None:
        if not self.terminated.is_set():
            self.why = why
            self.terminated.set()
        self._in_send.close()
        self._acked.set()

    def _events(self) -> None:
        while (event := self._conn.next_event()) is not None:
            match event:
                case HandshakeCompleted():
                    self.handshake.set()
                case StreamDataReceived(stream_id=sid, data=data, end_stream=end):
                    if sid != STREAM:
                        self._conn.close(error_code=0x1, reason_phrase="one stream per link")
                        continue
                    if data:
                        self._in_send.send_nowait(data)
                    if end:
                        self._end("peer ended the stream")
                case StreamReset():
                    self._end("peer reset the stream")
                case ConnectionTerminated(reason_phrase=why):
                    self._end(why or "connection terminated")
        self._acked.set()

    async def run(
        self,
        datagrams: Callable[[], Awaitable[tuple[bytes, Address]]],
        ready: Callable[[], tuple[bytes, Address] | None] = lambda: None,
    ) -> None:
        """Feed datagrams and timers to the connection until it terminates.

        ``ready`` returns a datagram already waiting (or None): all of them
        are fed before the connection is asked what to send, so one ACK
        answers a burst instead of one per datagram (aioquic's per-datagram
        Python cost is what bounds QUIC here).
        """
        conn = self._conn
        while not self.terminated.is_set():
            timer = conn.get_timer()
            got = None
            with trio.CancelScope(deadline=timer if timer is not None else math.inf) as wait:
                self._wait = wait
                got = await datagrams()
            now = trio.current_time()
            if got is None:
                conn.handle_timer(now)
            else:
                conn.receive_datagram(got[0], got[1], now)
                for _ in range(_BURST):
                    more = ready()
                    if more is None:
                        break
                    conn.receive_datagram(more[0], more[1], now)
            self._events()
            await self._transmit()


class QuicTransport:
    """Federation over QUIC (always TLS 1.3).

    Args:
        certificate: PEM certificate file the server presents (``serve`` only).
        private_key: its PEM private key file.
        ca_file: PEM CA file the client trusts (e.g. ``dev-ca.pem``).
        server_name: TLS name to check, if not the dialled host.
        idle_timeout: QUIC idle timeout, seconds (set above the heartbeat).
        max_connections: server-side connection cap.
        max_datagram_size: largest UDP payload sent. Default: QUIC's minimum,
            1200 (safe on any path), or 16000 when the address is loopback
            (whose MTU is 64 KiB; per-datagram cost dominates in Python).
    """

    def __init__(
        self,
        *,
        certificate: str | None = None,
        private_key: str | None = None,
        ca_file: str | None = None,
        server_name: str | None = None,
        idle_timeout: float = 60.0,
        max_connections: int = 256,
        max_datagram_size: int | None = None,
    ) -> None:
        if max_datagram_size is not None and not 1200 <= max_datagram_size <= LOOPBACK_DATAGRAM:
            raise FederationConfigError(
                f"max_datagram_size must be within 1200..{LOOPBACK_DATAGRAM}"
            )
        self._max_datagram_size = max_datagram_size
        self._certificate = certificate
        self._private_key = private_key
        self._ca_file = ca_file
        self._server_name = server_name
        self._idle_timeout = idle_timeout
        self._max_connections = max_connections
        self._binding: bytes | None = None

    def _config(self, *, client: bool, host: str) -> QuicConfiguration:
        datagram = self._max_datagram_size or (
            LOOPBACK_DATAGRAM if is_loopback(host) else SMALLEST_MAX_DATAGRAM_SIZE
        )
        cfg = QuicConfiguration(
            is_client=client,
            alpn_protocols=[ALPN],
            idle_timeout=self._idle_timeout,
            max_datagram_size=datagram,
            # the link's own send buffer and UNACKED_LIMIT bound what is in
            # flight; QUIC's windows only need to not be the bottleneck
            max_data=8 * UNACKED_LIMIT,
            max_stream_data=4 * UNACKED_LIMIT,
        )
        if client:
            if self._ca_file is None:
                raise FederationConfigError("QUIC dialling needs ca_file (the peers' CA)")
            cfg.load_verify_locations(cafile=self._ca_file)
            cfg.server_name = self._server_name or host
        else:
            if self._certificate is None or self._private_key is None:
                raise FederationConfigError("a QUIC server needs certificate and private_key")
            cfg.load_cert_chain(self._certificate, self._private_key)
        return cfg

    def _server_binding(self) -> bytes:
        if self._binding is None:
            from ._websocket import certificate_der

            assert self._certificate is not None
            self._binding = certificate_binding(certificate_der(self._certificate))
        return self._binding

    @asynccontextmanager
    async def open_channel(self, address: str) -> AsyncIterator[Channel]:
        """Dial ``HOST:PORT`` and open the link's stream."""
        host, port = _host_port(address)
        infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        if not infos:
            raise NodeUnreachable(address, "address does not resolve")
        family, _, _, _, peer = infos[0]
        conn = QuicConnection(configuration=self._config(client=True, host=host))
        with (
            trio.socket.socket(family, socket.SOCK_DGRAM) as sock,
            socket.fromfd(sock.fileno(), family, socket.SOCK_DGRAM) as raw,
        ):
            raw.setblocking(False)
            await sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
            driver = _QuicDriver(conn, sock, peer)
            conn.connect(peer, now=trio.current_time())
            failed = None
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(driver.run, lambda: sock.recvfrom(65536), _ready(raw))
                    with trio.move_on_after(self._idle_timeout):
                        await _first(driver.handshake, driver.terminated)
                    if not driver.handshake.is_set() or driver.terminated.is_set():
                        failed = driver.why or "no answer"
                    else:
                        driver.binding = _peer_binding(conn)
                        try:
                            yield driver
                        finally:
                            with trio.CancelScope(shield=True):
                                await driver.aclose()
                    nursery.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                # the block's own exception, not wrapped by our nursery
                if len(group.exceptions) == 1:
                    raise group.exceptions[0] from None
                raise
            if failed is not None:
                raise NodeUnreachable(address, f"QUIC handshake failed: {failed}")

    async def serve(
        self,
        address: str,
        on_channel: Callable[[Channel], Awaitable[None]],
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve on ``HOST:PORT`` (UDP; port 0 picks one, reported as ``HOST:PORT``)."""
        host, port = _host_port(address)
        cfg = self._config(client=False, host=host)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        inboxes: dict[Address, trio.MemorySendChannel[tuple[bytes, Address]]] = {}
        with trio.socket.socket(family, socket.SOCK_DGRAM) as sock:
            await sock.bind((host, port))
            bound = sock.getsockname()
            async with trio.open_nursery() as nursery:
                shown = f"[{host}]" if ":" in host else host
                task_status.started(f"{shown}:{bound[1]}")
                while True:
                    data, peer = await sock.recvfrom(65536)
                    inbox = inboxes.get(peer)
                    if inbox is None:
                        if len(inboxes) >= self._max_connections or not _is_initial(data, cfg):
                            continue
                        send, receive = trio.open_memory_channel[tuple[bytes, Address]](_INBOX)
                        inboxes[peer] = inbox = send
                        header = pull_quic_header(Buffer(data=data), cfg.connection_id_length)
                        conn = QuicConnection(
                            configuration=cfg,
                            original_destination_connection_id=header.destination_cid,
                        )
                        nursery.start_soon(
                            self._serve_one, conn, sock, peer, receive, on_channel, inboxes
                        )
                    # a busy connection slows this loop (the kernel buffers
                    # meanwhile) rather than lose datagrams; a finished one drops them
                    with contextlib.suppress(trio.BrokenResourceError):
                        await inbox.send((data, peer))

    async def _serve_one(
        self,
        conn: QuicConnection,
        sock: trio.socket.SocketType,
        peer: Address,
        inbox: trio.MemoryReceiveChannel[tuple[bytes, Address]],
        on_channel: Callable[[Channel], Awaitable[None]],
        inboxes: dict[Address, trio.MemorySendChannel[tuple[bytes, Address]]],
    ) -> None:
        driver = _QuicDriver(conn, sock, peer)
        driver.binding = self._server_binding()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(driver.run, inbox.receive, _nowait(inbox))
                await _first(driver.handshake, driver.terminated)
                if driver.handshake.is_set() and not driver.terminated.is_set():
                    try:
                        await on_channel(driver)
                    finally:
                        await driver.aclose()
                nursery.cancel_scope.cancel()
        finally:
            del inboxes[peer]
            inbox.close()


def _ready(raw: socket.socket) -> Callable[[], tuple[bytes, Address] | None]:
    """A datagram already in ``raw``'s buffer (a non-blocking duplicate of the
    link's socket), without waiting, or None."""

    def ready() -> tuple[bytes, Address] | None:
        try:
            data, addr = raw.recvfrom(65536)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return None  # the blocking path will see (and report) the error
        return data, addr

    return ready


def _nowait(
    inbox: trio.MemoryReceiveChannel[tuple[bytes, Address]],
) -> Callable[[], tuple[bytes, Address] | None]:
    def ready() -> tuple[bytes, Address] | None:
        try:
            return inbox.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            return None

    return ready


def _peer_binding(conn: QuicConnection) -> bytes:
    """The channel binding the client sees: SHA-256 of the server's certificate."""
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = getattr(conn.tls, "_peer_certificate", None)
    return b"" if cert is None else certificate_binding(cert.public_bytes(Encoding.DER))


def _is_initial(data: bytes, cfg: QuicConfiguration) -> bool:
    if len(data) < SMALLEST_MAX_DATAGRAM_SIZE:
        return False
    try:
        header = pull_quic_header(Buffer(data=data), cfg.connection_id_length)
    except ValueError:
        return False
    return header.packet_type == QuicPacketType.INITIAL and header.version is not None


async def _first(*events: trio.Event) -> None:
    """Wait until any of ``events`` is set."""
    async with trio.open_nursery() as nursery:
        for event in events:

            async def wait(event: trio.Event = event) -> None:
                await event.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(wait)
