"""TLS channel binding of the federation handshake: a relay that terminates
TLS (holding a certificate the cluster's CA signed) cannot splice two
authenticated sessions; the refusal is audited."""

from __future__ import annotations

import ssl

import pytest
import trio
from test_federation_flow import connect

from hostkit.federation import (
    CloseReason,
    ClusterSecret,
    QuicTransport,
    WebsocketTransport,
    make_dev_cert,
    open_federation,
)
from hostkit.federation import _messages as m

SECRET = bytes(range(32))


# ------------------------------------------------------------------ the core


def test_equal_bindings_bring_the_link_up_bound():
    a, b = connect(binding_a=b"\x01" * 32, binding_b=b"\x01" * 32)
    assert a.state.value == b.state.value == "established"
    assert m.FLAG_TLS_BINDING in a.flags and m.FLAG_TLS_BINDING in b.flags


def test_different_bindings_fail_authentication_on_both_sides():
    a, b = connect(binding_a=b"\x01" * 32, binding_b=b"\x02" * 32)
    assert a.last_close.reason is CloseReason.AUTH_FAILED
    assert "failed to prove" in a.last_close.detail
    assert b.last_close.reason is CloseReason.REFUSED_BY_PEER


def test_a_tls_side_refuses_a_peer_that_does_not_bind_unless_told_not_to():
    a, _b = connect(binding_a=b"\x01" * 32)
    assert a.last_close.reason is CloseReason.AUTH_FAILED
    assert "tls-binding" in a.last_close.detail
    a, _b = connect(binding_a=b"\x01" * 32, require=False)  # a TLS-terminating proxy
    assert a.state.value == "established" and m.FLAG_TLS_BINDING not in a.flags


def test_plain_channels_offer_no_binding_and_keep_the_old_transcript():
    a, _b = connect()
    assert m.FLAG_TLS_BINDING not in a.flags and a.state.value == "established"


# -------------------------------------------------------------- real TLS


class Audit:
    def __init__(self):
        self.records = []
        self.changed = trio.Event()

    def record(self, event, /, **fields):
        self.records.append((event, fields))
        self.changed.set()
        self.changed = trio.Event()

    async def wait_for(self, event):
        with trio.fail_after(20):
            while not any(e == event for e, _ in self.records):
                await self.changed.wait()
        return [f for e, f in self.records if e == event]


class Quiet:
    def deliver(self, sender, target, payload):
        return None

    def node_up(self, node):
        pass

    def node_down(self, node, reason):
        pass


class Allow:
    def allows(self, peer, action, target, context):
        return True


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("binding-certs")
    hosts = ("localhost", "127.0.0.1")
    beta = make_dev_cert("beta", directory, hosts=hosts)
    mallory = make_dev_cert("mallory", directory, hosts=hosts)  # same CA: trusted
    return beta, mallory


async def _pipe(source, sink):
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def serve_relay(certs, upstream_port, *, task_status=trio.TASK_STATUS_IGNORED):
    """A TLS-terminating relay: mallory's certificate towards the dialler, a
    fresh TLS connection to beta behind it, bytes copied both ways."""
    _beta, mallory = certs
    front = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    front.load_cert_chain(mallory.cert, mallory.key)
    back = ssl.create_default_context(cafile=str(mallory.ca_cert))

    async def handle(stream):
        upstream = await trio.open_ssl_over_tcp_stream(
            "127.0.0.1", upstream_port, ssl_context=back, https_compatible=True
        )
        async with stream, upstream, trio.open_nursery() as nursery:
            nursery.start_soon(_pipe, stream, upstream)
            await _pipe(upstream, stream)
            nursery.cancel_scope.cancel()

    listeners = await trio.open_ssl_over_tcp_listeners(
        0, front, host="127.0.0.1", https_compatible=True
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handle, listeners)
        task_status.started(listeners[0].transport_listener.socket.getsockname()[1])
        await trio.sleep_forever()


async def _federate(certs, *, via_relay):
    beta_cert, _ = certs
    beta_tls = WebsocketTransport.tls(certificate=beta_cert.cert, private_key=beta_cert.key)
    alpha_tls = WebsocketTransport.tls(ca_file=beta_cert.ca_cert)
    audit_a, audit_b = Audit(), Audit()
    common = dict(authenticator=ClusterSecret(SECRET), local=Quiet(), policy=Allow(),
                  reconnect=(5.0, 5.0))
    async with (
        open_federation("beta", transport=beta_tls, audit=audit_b, **common) as beta,
        open_federation("alpha", transport=alpha_tls, audit=audit_a, **common) as alpha,
        trio.open_nursery() as nursery,
    ):
        bound = await beta.listen("127.0.0.1:0")
        port = int(bound.rsplit(":", 1)[1].strip("/"))
        if via_relay:
            port = await nursery.start(serve_relay, certs, port)
        alpha.add_peer("beta", f"wss://localhost:{port}/")
        if via_relay:
            refused = await audit_a.wait_for("federation-refuse")
            at_beta = await audit_b.wait_for("federation-refuse")
            assert alpha.peers() == [] and beta.peers() == []
            nursery.cancel_scope.cancel()
            return refused, at_beta
        with trio.fail_after(20):
            peer = await alpha.wait_up("beta")
        flags = alpha.link_to("beta").connection.flags
        nursery.cancel_scope.cancel()
        return peer, flags


async def test_a_direct_wss_link_is_bound_to_its_tls_session(certs):
    peer, flags = await _federate(certs, via_relay=False)
    assert peer.name == "beta" and m.FLAG_TLS_BINDING in flags


async def test_a_tls_terminating_relay_cannot_splice_the_handshake_and_is_audited(certs):
    refused, at_beta = await _federate(certs, via_relay=True)
    assert refused[0]["reason"] == "auth-failed"
    assert "failed to prove" in refused[0]["detail"]
    assert refused[0]["peer"] == "beta"
    assert at_beta[0]["reason"] == "refused-by-peer"


async def test_quic_links_are_bound_too(certs):
    beta_cert, _ = certs
    transport = QuicTransport(
        certificate=str(beta_cert.cert), private_key=str(beta_cert.key),
        ca_file=str(beta_cert.ca_cert), server_name="localhost",
    )
    common = dict(authenticator=ClusterSecret(SECRET), local=Quiet(), policy=Allow(),
                  transport=transport)
    async with (
        open_federation("beta", **common) as beta,
        open_federation("alpha", **common) as alpha,
    ):
        alpha.add_peer("beta", await beta.listen("127.0.0.1:0"))
        with trio.fail_after(20):
            await alpha.wait_up("beta")
        assert m.FLAG_TLS_BINDING in alpha.link_to("beta").connection.flags
        assert alpha.link_to("beta").channel.binding == beta.link_to("alpha").channel.binding
