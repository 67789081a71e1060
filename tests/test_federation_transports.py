"""Each transport carries a real handshake and messages on loopback."""

from __future__ import annotations

import ssl

import pytest
import trio

from hostkit.federation import ClusterSecret, Connection, LinkConfig
from hostkit.federation import _messages as m
from hostkit.federation._certs import make_dev_cert
from hostkit.federation._errors import AuthenticationFailed
from hostkit.federation._link import Link, check_secure
from hostkit.federation._memory import MemoryNetwork
from hostkit.federation._protocol import CloseReason
from hostkit.federation._quic import QuicTransport
from hostkit.federation._websocket import WebsocketTransport

SECRET = bytes(range(32))


class Recorder:
    def __init__(self):
        self.up = trio.Event()
        self.closed = trio.Event()
        self.received = []
        self.close_events = []
        self.got = trio.Event()
        self.want = 0

    def link_verified(self, link, event):
        return None

    def link_up(self, link, event):
        self.up.set()

    def link_received(self, link, event):
        self.received.append(event.message)
        if len(self.received) >= self.want:
            self.got.set()

    def link_closed(self, link, event):
        self.close_events.append(event)
        self.closed.set()


def conn(name, initiator, expected=None, config=None):
    return Connection(
        name=name,
        creation=7 if initiator else 9,
        authenticator=ClusterSecret(SECRET),
        initiator=initiator,
        now=trio.current_time(),
        expected_peer=expected,
        config=config or LinkConfig(),
    )


async def exchange(transport, listen, dial_of, n=200, big=200_000):
    server_rec, client_rec = Recorder(), Recorder()
    server_rec.want = n + 1
    links = {}

    async def on_channel(channel):
        link = Link(conn("b", False), channel, server_rec)
        links["b"] = link
        await link.run()

    async with trio.open_nursery() as nursery:
        bound = await nursery.start(transport.serve, listen, on_channel)
        async with transport.open_channel(dial_of(bound)) as channel:
            link = Link(conn("a", True, "b"), channel, client_rec)
            nursery.start_soon(link.run)
            with trio.fail_after(10):
                await client_rec.up.wait()
                await server_rec.up.wait()
            for i in range(n):
                await link.send(m.Send(5, 1, f"m{i}".encode()))
            await link.send(m.Send(5, 1, b"z" * big))
            with trio.fail_after(10):
                await server_rec.got.wait()
            link.close("done")
            with trio.fail_after(10):
                await server_rec.closed.wait()
                await link.done.wait()
        nursery.cancel_scope.cancel()
    payloads = [msg.payload for msg in server_rec.received]
    assert payloads == [f"m{i}".encode() for i in range(n)] + [b"z" * big]
    assert server_rec.close_events[0].reason is CloseReason.PEER_CLOSED


async def test_memory_transport_carries_handshake_and_messages():
    await exchange(MemoryNetwork(), "node-b", lambda bound: bound)


async def test_websocket_transport_on_loopback():
    await exchange(WebsocketTransport(), "127.0.0.1:0", lambda bound: bound)


@pytest.fixture(scope="module")
def dev_cert(tmp_path_factory):
    return make_dev_cert("b", tmp_path_factory.mktemp("certs"))


async def test_websocket_transport_with_tls(dev_cert):
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(dev_cert.cert, dev_cert.key)
    client = ssl.create_default_context(cafile=str(dev_cert.ca_cert))
    transport = WebsocketTransport(server_ssl=server, client_ssl=client)
    await exchange(transport, "127.0.0.1:0", lambda bound: bound.replace("127.0.0.1", "localhost"))


async def test_quic_transport_on_loopback(dev_cert):
    transport = QuicTransport(
        certificate=str(dev_cert.cert), private_key=str(dev_cert.key), ca_file=str(dev_cert.ca_cert)
    )
    await exchange(transport, "127.0.0.1:0", lambda bound: bound)


def test_plain_transport_off_loopback_is_refused_unless_allowed():
    with pytest.raises(AuthenticationFailed, match="refusing a plain"):
        check_secure("192.0.2.1", secure=False, allow_insecure=False)
    check_secure("192.0.2.1", secure=True, allow_insecure=False)
    check_secure("192.0.2.1", secure=False, allow_insecure=True)
    check_secure("::1", secure=False, allow_insecure=False)


async def test_plain_websocket_dial_off_loopback_fails_before_connecting():
    with pytest.raises(AuthenticationFailed):
        async with WebsocketTransport().open_channel("ws://192.0.2.1:9/"):
            pass  # pragma: no cover
