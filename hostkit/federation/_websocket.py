"""The websocket transport (trio-websocket): one websocket per link.

Each binary websocket message carries whatever bytes the link's writer took
from the core (one or more frames); the core does the framing, so message
boundaries do not matter. ``wss://`` with an :class:`ssl.SSLContext` is
required off loopback. The link's reader always drains the websocket, so
trio-websocket keeps answering pings.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final
from urllib.parse import urlsplit

import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionTimeout,
    HandshakeError,
    WebSocketConnection,
    WebSocketRequest,
    open_websocket_url,
    serve_websocket,
)

from ._errors import FederationConfigError, NodeUnreachable
from ._link import Channel, check_secure

MAX_WS_MESSAGE: Final = 4 * 1024 * 1024


class _WsChannel:
    def __init__(self, ws: WebSocketConnection, secure: bool, remote: str) -> None:
        self._ws = ws
        self.secure = secure
        self.remote = remote

    async def send_bytes(self, data: bytes) -> None:
        try:
            await self._ws.send_message(data)
        except ConnectionClosed as exc:
            raise trio.BrokenResourceError(f"websocket closed: {exc.reason}") from None

    async def receive_bytes(self) -> bytes:
        try:
            message = await self._ws.get_message()
        except ConnectionClosed:
            return b""
        return message.encode() if isinstance(message, str) else message

    async def aclose(self) -> None:
        await self._ws.aclose()


def _host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise FederationConfigError(f"listen address {address!r} must be HOST:PORT")
    return host.strip("[]"), int(port)


class WebsocketTransport:
    """Federation over websockets.

    Args:
        server_ssl: TLS context for :meth:`serve` (None: plain ``ws``).
        client_ssl: TLS context for ``wss://`` dials (trusting the peers' CA).
        allow_insecure: allow plain ``ws`` off loopback (tests on private
            networks only; the handshake still authenticates, but messages
            travel in clear).
    """

    def __init__(
        self,
        *,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        allow_insecure: bool = False,
    ) -> None:
        self.server_ssl = server_ssl
        self.client_ssl = client_ssl
        self.allow_insecure = allow_insecure

    @asynccontextmanager
    async def open_channel(self, address: str) -> AsyncIterator[Channel]:
        """Dial ``ws://HOST:PORT/`` or ``wss://HOST:PORT/``."""
        url = urlsplit(address)
        if url.scheme not in ("ws", "wss") or not url.hostname:
            raise FederationConfigError(f"websocket address {address!r} must be ws:// or wss://")
        secure = url.scheme == "wss"
        check_secure(url.hostname, secure, self.allow_insecure)
        connected = False
        try:
            # open_websocket_url (unlike a nursery of our own) re-raises the
            # block's exceptions unwrapped, and closes the socket on the way out
            async with open_websocket_url(
                address,
                ssl_context=self.client_ssl if secure else None,
                max_message_size=MAX_WS_MESSAGE,
            ) as ws:
                connected = True
                try:
                    yield _WsChannel(ws, secure, address)
                finally:
                    # a cancelled close would leak the socket: shield it, then force
                    with trio.CancelScope(shield=True), trio.move_on_after(1):
                        await ws.aclose()
                    await trio.aclose_forcefully(ws._stream)
        except (HandshakeError, ConnectionTimeout, OSError) as exc:
            if connected:
                raise
            raise NodeUnreachable(address, f"websocket connect failed: {exc!r}") from None

    async def serve(
        self,
        address: str,
        on_channel: Callable[[Channel], Awaitable[None]],
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve on ``HOST:PORT`` (port 0 picks one; the bound URL is reported)."""
        host, port = _host_port(address)
        secure = self.server_ssl is not None
        check_secure(host, secure, self.allow_insecure)

        async def handler(request: WebSocketRequest) -> None:
            ws = await request.accept()
            remote = f"{request.remote.address}:{request.remote.port}"  # type: ignore[union-attr]
            try:
                await on_channel(_WsChannel(ws, secure, remote))
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    await ws.aclose()

        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                lambda task_status: serve_websocket(
                    handler,
                    host,
                    port,
                    self.server_ssl,
                    max_message_size=MAX_WS_MESSAGE,
                    task_status=task_status,
                )
            )
            scheme = "wss" if secure else "ws"
            shown = f"[{host}]" if ":" in host else host
            task_status.started(f"{scheme}://{shown}:{server.port}/")
