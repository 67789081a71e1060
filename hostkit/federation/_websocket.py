"""The websocket transport (trio-websocket): one websocket per link.

Each binary websocket message carries whatever bytes the link's writer took
from the core (one or more frames); the core does the framing, so message
boundaries do not matter. ``wss://`` with an :class:`ssl.SSLContext` is
required off loopback. The link's reader always drains the websocket, so
trio-websocket keeps answering pings.

Channel binding (``_auth``): the dialler hashes the certificate the server
presented; the server hashes its own, which it must be told
(``server_certificate``, or use :meth:`WebsocketTransport.tls`) because
Python's ``ssl`` cannot report the certificate a context serves.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
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

from ._auth import certificate_binding
from ._errors import FederationConfigError, NodeUnreachable
from ._link import Channel, check_secure

MAX_WS_MESSAGE: Final = 4 * 1024 * 1024


_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def certificate_der(path: str | Path) -> bytes:
    """The DER bytes of the first certificate of a PEM file (the leaf).

    Raises:
        FederationConfigError: the file is missing or holds no PEM certificate.
    """
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise FederationConfigError(f"cannot read certificate {path}: {exc.strerror}") from None
    found = _PEM_CERT.search(pem)
    if found is None:
        raise FederationConfigError(f"{path} holds no PEM certificate")
    return ssl.PEM_cert_to_DER_cert(found.group().decode("ascii"))


class _WsChannel:
    def __init__(
        self, ws: WebSocketConnection, secure: bool, remote: str, binding: bytes = b""
    ) -> None:
        self._ws = ws
        self.secure = secure
        self.remote = remote
        self.binding = binding

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
        server_certificate: the PEM certificate ``server_ssl`` presents, so
            the handshake can be bound to the TLS session (without it the
            server offers no binding, and dialling peers refuse it unless
            their ``LinkConfig.require_channel_binding`` is off).

    Raises:
        FederationConfigError: ``server_certificate`` holds no certificate.
    """

    def __init__(
        self,
        *,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        allow_insecure: bool = False,
        server_certificate: str | Path | None = None,
    ) -> None:
        self.server_ssl = server_ssl
        self.client_ssl = client_ssl
        self.allow_insecure = allow_insecure
        self._server_binding = (
            certificate_binding(certificate_der(server_certificate))
            if server_certificate is not None and server_ssl is not None
            else b""
        )

    @classmethod
    def tls(
        cls,
        *,
        certificate: str | Path | None = None,
        private_key: str | Path | None = None,
        ca_file: str | Path | None = None,
    ) -> WebsocketTransport:
        """A ``wss`` transport from PEM files: serves ``certificate`` with
        ``private_key`` (if given) and dials peers whose certificates
        ``ca_file`` signed (if given), with the channel binding set up.

        Raises:
            FederationConfigError: a file is missing or does not load.
        """
        server = client = None
        try:
            if certificate is not None or private_key is not None:
                if certificate is None or private_key is None:
                    raise FederationConfigError("give certificate and private_key together")
                server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                server.load_cert_chain(str(certificate), str(private_key))
            if ca_file is not None:
                client = ssl.create_default_context(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise FederationConfigError(f"TLS files do not load: {exc}") from None
        return cls(server_ssl=server, client_ssl=client, server_certificate=certificate)

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
                binding = b""
                if secure:
                    der = ws._stream.getpeercert(binary_form=True)  # type: ignore[attr-defined]
                    binding = certificate_binding(der) if der else b""
                try:
                    yield _WsChannel(ws, secure, address, binding)
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
                await on_channel(_WsChannel(ws, secure, remote, self._server_binding))
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
