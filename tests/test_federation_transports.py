"""Each transport carries a real handshake and messages on loopback."""

from __future__ import annotations

import ssl

import pytest
import trio

from hostkit.federation import ClusterSecret, Connection, LinkConfig, RemotePid
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


class UdpRelay:
    """A loopback UDP relay between a QUIC client and server that can drop datagrams."""

    def __init__(self, server):
        self.server = server
        self.client = None
        self.dropping = False
        self.dropped = 0

    async def run(self, task_status=trio.TASK_STATUS_IGNORED):
        import socket

        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await sock.bind(("127.0.0.1", 0))
            task_status.started(f"127.0.0.1:{sock.getsockname()[1]}")
            while True:
                data, addr = await sock.recvfrom(65536)
                if addr != self.server:
                    self.client = addr
                    to = self.server
                else:
                    to = self.client
                if self.dropping or to is None:
                    self.dropped += 1
                    continue
                await sock.sendto(data, to)


async def test_quic_datagrams_dropped_give_noconnection_then_reconnect(dev_cert):
    from test_federation_nodes import SECRET as NODE_SECRET
    from test_federation_nodes import Actors, Allow

    from hostkit.federation import open_federation

    transport = QuicTransport(
        certificate=str(dev_cert.cert),
        private_key=str(dev_cert.key),
        ca_file=str(dev_cert.ca_cert),
        max_datagram_size=1200,
    )
    cfg = LinkConfig(heartbeat_timeout=2.0)  # real time: leave room for a loaded CI
    ha, hb = Actors(), Actors()
    async with (
        open_federation(
            "a",
            authenticator=ClusterSecret(NODE_SECRET),
            transport=transport,
            local=ha,
            policy=Allow(),
            config=cfg,
            reconnect=(0.1, 0.5),
        ) as fa,
        open_federation(
            "b",
            authenticator=ClusterSecret(NODE_SECRET),
            transport=transport,
            local=hb,
            policy=Allow(),
            config=cfg,
        ) as fb,
        trio.open_nursery() as nursery,
    ):
        ha.fed, hb.fed = fa, fb
        bound = await fb.listen("127.0.0.1:0")
        host, port = bound.rsplit(":", 1)
        relay = UdpRelay((host, int(port)))
        via = await nursery.start(relay.run)
        fa.add_peer("b", via)
        with trio.fail_after(10):
            peer = await fa.wait_up("b")
        la, rb = ha.new(), hb.new()
        fa.link(la, RemotePid("b", peer.creation, rb))
        fa.send(RemotePid("b", peer.creation, rb), la, b"x" * 5000)  # several datagrams
        await hb.wait_for(lambda: hb.mailbox[rb])
        relay.dropping = True
        await ha.wait_for(lambda: ha.of("node-down"))
        assert "heartbeat-timeout" in ha.of("node-down")[0][1]
        assert ha.of("exit") == [(RemotePid("b", peer.creation, rb), la, "noconnection")]
        assert relay.dropped > 0
        relay.dropping = False
        await ha.wait_for(lambda: len(ha.of("node-up")) == 2)
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("limit", [None, 1, 7, 100, 5000])
def test_chunking_and_write_limits_never_reorder_or_lose(limit):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from hostkit.federation import Received

    @settings(max_examples=40, deadline=None)
    @given(
        sizes=st.lists(st.integers(0, 6000), min_size=1, max_size=30),
        cuts=st.lists(st.integers(1, 3000), min_size=1, max_size=20),
    )
    def run(sizes, cuts):
        cfg = LinkConfig(fragment_size=512, max_frame=2048)
        a = Connection(
            name="a",
            creation=1,
            authenticator=ClusterSecret(SECRET),
            initiator=True,
            now=0.0,
            config=cfg,
        )
        b = Connection(
            name="b",
            creation=2,
            authenticator=ClusterSecret(SECRET),
            initiator=False,
            now=0.0,
            config=cfg,
        )
        for _ in range(4):  # handshake (b"" would mean EOF: skip empty writes)
            for src, dst in ((a, b), (b, a)):
                if data := src.data_to_send():
                    dst.receive_data(data)
                while (ev := dst.next_event()) is not None:
                    if type(ev).__name__ == "PeerVerified":
                        dst.accept()
        for i, size in enumerate(sizes):
            a.queue(m.Send(1, 1, bytes([i % 256]) * size))
        stream = b""
        while chunk := a.data_to_send(limit and limit * 10):
            stream += chunk
        got = []
        pos, k = 0, 0
        while pos < len(stream):
            step = cuts[k % len(cuts)]
            b.receive_data(stream[pos : pos + step])
            pos += step
            k += 1
            while (ev := b.next_event()) is not None:
                assert isinstance(ev, Received)
                got.append(ev.message.payload)
        assert got == [bytes([i % 256]) * size for i, size in enumerate(sizes)]

    run()


@pytest.mark.parametrize("kind", ["ws", "quic"])
async def test_dialling_nothing_is_node_unreachable_not_a_crash(kind, dev_cert):
    import socket

    from hostkit.federation import NodeUnreachable

    with socket.socket(
        socket.AF_INET, socket.SOCK_DGRAM if kind == "quic" else socket.SOCK_STREAM
    ) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if kind == "ws":
        transport, address = WebsocketTransport(), f"ws://127.0.0.1:{port}/"
    else:
        transport = QuicTransport(ca_file=str(dev_cert.ca_cert), idle_timeout=0.5)
        address = f"127.0.0.1:{port}"
    with pytest.raises(NodeUnreachable):
        async with transport.open_channel(address):
            pass  # pragma: no cover
