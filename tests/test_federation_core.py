"""The sans-IO federation core, driven from both ends with no sockets."""

from __future__ import annotations

import struct

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostkit.federation import (
    CloseReason,
    ClusterSecret,
    Connection,
    LinkClosed,
    LinkConfig,
    NodeKeys,
    PeerUp,
    PeerVerified,
    Received,
    State,
)
from hostkit.federation import _messages as m

SECRET = bytes(range(32))


class Pair:
    """Two connected cores; ``pump`` moves bytes until both are quiet (h11's ConnectionPair)."""

    def __init__(
        self,
        auth_a=None,
        auth_b=None,
        *,
        config=None,
        flags_a=None,
        flags_b=None,
        expected="b",
        accept=True,
    ):
        kw = {"config": config} if config else {}
        self.a = Connection(
            name="a",
            creation=1,
            authenticator=auth_a or ClusterSecret(SECRET),
            initiator=True,
            now=0.0,
            expected_peer=expected,
            **({"flags": flags_a} if flags_a is not None else {}),
            **kw,
        )
        self.b = Connection(
            name="b",
            creation=2,
            authenticator=auth_b or ClusterSecret(SECRET),
            initiator=False,
            now=0.0,
            **({"flags": flags_b} if flags_b is not None else {}),
            **kw,
        )
        self.events = {"a": [], "b": []}
        self.accept = accept
        self.wire = []  # every (sender, bytes) moved, for replay tests

    def pump(self, limit=None):
        moved = True
        while moved:
            moved = False
            for src, dst in ((self.a, self.b), (self.b, self.a)):
                data = src.data_to_send(limit)
                if data:
                    self.wire.append(("a" if src is self.a else "b", data))
                    dst.receive_data(data)
                    moved = True
            for conn, key in ((self.a, "a"), (self.b, "b")):
                while (ev := conn.next_event()) is not None:
                    self.events[key].append(ev)
                    if isinstance(ev, PeerVerified):
                        if self.accept is True:
                            conn.accept()
                        else:
                            conn.refuse("not in the cluster")
                    moved = True

    def of(self, key, kind):
        return [e for e in self.events[key] if isinstance(e, kind)]


def closed(pair, key):
    (ev,) = pair.of(key, LinkClosed)
    return ev


def up_pair(**kw):
    pair = Pair(**kw)
    pair.pump()
    assert pair.a.state is State.ESTABLISHED and pair.b.state is State.ESTABLISHED
    return pair


def test_handshake_with_cluster_secret_brings_both_ends_up():
    pair = up_pair()
    (up_a,) = pair.of("a", PeerUp)
    (up_b,) = pair.of("b", PeerUp)
    assert (up_a.peer.name, up_a.peer.creation) == ("b", 2)
    assert (up_b.peer.name, up_b.peer.creation) == ("a", 1)
    assert up_a.flags == up_b.flags == m.KNOWN_FLAGS


def _keys():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    def pair():
        k = Ed25519PrivateKey.generate()
        priv = k.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        pub = k.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return priv, pub

    return pair(), pair(), pair()


def test_handshake_with_node_keys_brings_both_ends_up():
    (pa, ua), (pb, ub), _ = _keys()
    pair = up_pair(auth_a=NodeKeys(pa, {"b": ub}), auth_b=NodeKeys(pb, {"a": ua}))
    assert pair.of("a", PeerUp) and pair.of("b", PeerUp)


def test_a_key_the_peer_does_not_know_is_refused():
    (_pa, ua), (pb, ub), (px, _ux) = _keys()
    # b believes "a" has key ua, but the caller signs with px
    pair = Pair(auth_a=NodeKeys(px, {"b": ub}), auth_b=NodeKeys(pb, {"a": ua}))
    pair.pump()
    assert closed(pair, "b").reason is CloseReason.AUTH_FAILED
    assert closed(pair, "a").reason is CloseReason.REFUSED_BY_PEER
    assert not pair.of("b", PeerUp)


def test_wrong_secret_is_refused_on_both_sides_and_nothing_secret_is_sent():
    other = bytes(32)
    pair = Pair(auth_b=ClusterSecret(other))
    pair.pump()
    # the acceptor's proof fails at the initiator, which refuses
    assert closed(pair, "a").reason is CloseReason.AUTH_FAILED
    assert closed(pair, "b").reason is CloseReason.REFUSED_BY_PEER
    sent = b"".join(data for _, data in pair.wire)
    assert SECRET not in sent and other not in sent


def test_unknown_node_is_refused_before_any_proof():
    pair = Pair(auth_b=ClusterSecret(SECRET, peers=frozenset({"c"})))
    pair.pump()
    ev = closed(pair, "b")
    assert ev.reason is CloseReason.AUTH_FAILED and "unknown node 'a'" in ev.detail
    assert closed(pair, "a").reason is CloseReason.REFUSED_BY_PEER


def test_dialling_one_name_and_reaching_another_is_refused():
    pair = Pair(expected="c")
    pair.pump()
    ev = closed(pair, "a")
    assert ev.reason is CloseReason.AUTH_FAILED and "dialled 'c'" in ev.detail


def test_policy_refusal_after_verification_closes_with_denied():
    pair = Pair(accept=False)
    pair.pump()
    assert closed(pair, "a").reason is CloseReason.DENIED  # a verified b first, then refused
    assert closed(pair, "b").reason is CloseReason.REFUSED_BY_PEER


def test_replayed_initiator_handshake_is_refused():
    recorded = Pair()
    recorded.pump()
    from_a = [data for who, data in recorded.wire if who == "a"]
    # an attacker replays a's recorded bytes to a fresh b: b's nonce is new
    b = Connection(
        name="b", creation=2, authenticator=ClusterSecret(SECRET), initiator=False, now=0.0
    )
    for data in from_a:
        b.receive_data(data)
    events = []
    while (ev := b.next_event()) is not None:
        events.append(ev)
    assert not any(isinstance(e, (PeerVerified, PeerUp)) for e in events)
    assert isinstance(events[-1], LinkClosed) and events[-1].reason is CloseReason.AUTH_FAILED


def test_replayed_acceptor_handshake_is_refused():
    recorded = Pair()
    recorded.pump()
    from_b = [data for who, data in recorded.wire if who == "b"]
    a = Connection(
        name="a",
        creation=1,
        authenticator=ClusterSecret(SECRET),
        initiator=True,
        now=0.0,
        expected_peer="b",
    )
    a.data_to_send()
    a.receive_data(from_b[0])  # Hello + Proof of the old session
    ev = a.next_event()
    assert isinstance(ev, LinkClosed) and ev.reason is CloseReason.AUTH_FAILED


@pytest.mark.parametrize("field", ["name", "creation", "flags", "nonce"])
def test_tampering_with_a_hello_field_breaks_the_proof(field):
    pair = Pair()
    hello_frame = pair.a.data_to_send()
    hello = msgspec.msgpack.decode(hello_frame[4:], type=m.Message)
    changed = {
        "name": {"name": "a"},  # same name, re-encoded: must still verify
        "creation": {"creation": 99},
        "flags": {"flags": ["pg"]},
        "nonce": {"nonce": bytes(32)},
    }[field]
    forged = msgspec.structs.replace(hello, **changed)
    body = m.ENCODER.encode(forged)
    pair.b.receive_data(struct.pack(">I", len(body)) + body)
    # b answers; a checks b's proof over the transcript with *its* Hello
    pair.pump()
    if field == "name":
        assert pair.a.state is State.ESTABLISHED
    else:
        assert closed(pair, "a").reason is CloseReason.AUTH_FAILED


def test_version_without_overlap_is_refused():
    pair = Pair()
    pair.a.data_to_send()
    hello = m.Hello(7, 9, "a", 1, [], bytes(32), "secret")
    body = m.ENCODER.encode(hello)
    pair.b.receive_data(struct.pack(">I", len(body)) + body)
    ev = pair.b.next_event()
    assert isinstance(ev, LinkClosed) and "no common protocol version" in ev.detail


def test_actor_message_before_handshake_is_a_protocol_error():
    b = Connection(
        name="b", creation=2, authenticator=ClusterSecret(SECRET), initiator=False, now=0.0
    )
    body = m.ENCODER.encode(m.Send(1, 2, b"hi"))
    b.receive_data(struct.pack(">I", len(body)) + body)
    ev = b.next_event()
    assert isinstance(ev, LinkClosed) and ev.reason is CloseReason.PROTOCOL_ERROR


def test_messages_flow_in_order_both_ways():
    pair = up_pair()
    for i in range(50):
        pair.a.queue(m.Send(7, 1, f"msg {i}".encode()))
        pair.b.queue(m.Send(1, 7, f"back {i}".encode()))
    pair.pump()
    got_b = [e.message.payload for e in pair.of("b", Received)]
    got_a = [e.message.payload for e in pair.of("a", Received)]
    assert got_b == [f"msg {i}".encode() for i in range(50)]
    assert got_a == [f"back {i}".encode() for i in range(50)]


def test_large_message_is_fragmented_and_a_tick_overtakes_it():
    cfg = LinkConfig(heartbeat_timeout=4.0, fragment_size=1024, max_frame=4096)
    pair = up_pair(config=cfg)
    big = b"x" * 100_000
    pair.a.queue(m.Send(7, 1, big))
    pair.a.queue(m.Send(7, 1, b"after"))
    assert pair.a.buffered > 100_000
    first = pair.a.data_to_send(2048)  # a writer takes one piece
    pair.b.receive_data(first)
    pair.a.handle_timer(1.0)  # idle period ended? no: a queued data, so no tick
    pair.a.handle_timer(2.0)  # this period had no new data: a tick is due
    tick_and_piece = pair.a.data_to_send(2048)
    tick = m.ENCODER.encode(m.Tick())
    assert tick_and_piece[4 : 4 + len(tick)] == tick  # the tick goes before the next piece
    pair.b.receive_data(tick_and_piece)
    pair.pump()
    payloads = [e.message.payload for e in pair.of("b", Received)]
    assert payloads == [big, b"after"]


def test_idle_link_ticks_every_quarter_and_stays_up():
    pair = up_pair(config=LinkConfig(heartbeat_timeout=4.0))
    t = 0.0
    for _ in range(40):
        t += 1.0
        pair.a.handle_timer(t)
        pair.b.handle_timer(t)
        pair.pump()
    assert pair.a.state is State.ESTABLISHED and pair.b.state is State.ESTABLISHED


def test_silent_peer_is_down_after_four_silent_periods():
    pair = up_pair(config=LinkConfig(heartbeat_timeout=4.0))
    # b goes silent at t=0: only a's timer runs, and a's bytes go nowhere.
    # The period (0, 1] still saw the handshake; (1, 5] are four silent ones.
    for t in (1.0, 2.0, 3.0, 4.0):
        pair.a.handle_timer(t)
        pair.a.data_to_send()
        assert pair.a.next_event() is None
    pair.a.handle_timer(5.0)
    ev = pair.a.next_event()
    assert isinstance(ev, LinkClosed) and ev.reason is CloseReason.HEARTBEAT_TIMEOUT and ev.was_up
    assert pair.a.next_timer() is None


def test_handshake_that_stalls_times_out():
    b = Connection(
        name="b",
        creation=2,
        authenticator=ClusterSecret(SECRET),
        initiator=False,
        now=0.0,
        config=LinkConfig(heartbeat_timeout=4.0),
    )
    for t in (1.0, 2.0, 3.0):
        b.handle_timer(t)
    assert b.next_event() is None
    b.handle_timer(4.0)
    ev = b.next_event()
    assert isinstance(ev, LinkClosed) and ev.reason is CloseReason.HANDSHAKE_TIMEOUT


def test_oversized_frame_header_is_refused_before_buffering():
    pair = up_pair(config=LinkConfig(fragment_size=1024, max_frame=4096))
    pair.b.receive_data(struct.pack(">I", 1 << 30))
    ev = pair.b.next_event()
    assert isinstance(ev, LinkClosed) and ev.reason is CloseReason.PROTOCOL_ERROR
    assert "exceeds the limit" in ev.detail


def test_reassembled_message_over_the_limit_is_refused():
    cfg = LinkConfig(fragment_size=1024, max_frame=4096, max_message=4096, send_buffer=1 << 20)
    pair = up_pair(config=cfg)
    pair.a.queue(m.Send(7, 1, b"y" * 10_000))
    pair.pump()
    assert closed(pair, "b").reason is CloseReason.PROTOCOL_ERROR
    assert closed(pair, "a").reason is CloseReason.REFUSED_BY_PEER


def test_gated_kind_needs_its_flag_on_both_sides():
    pair = up_pair(flags_a=frozenset({"pg", "spawn"}), flags_b=frozenset({"spawn"}))
    assert pair.a.flags == frozenset({"spawn"})
    with pytest.raises(Exception, match="needs the 'pg' capability"):
        pair.a.queue(m.PgJoin("g", [1]))
    # a peer that sends it anyway breaks the protocol
    body = m.ENCODER.encode(m.PgJoin("g", [1]))
    pair.b.receive_data(struct.pack(">I", len(body)) + body)
    pair.pump()
    ev = closed(pair, "b")
    assert ev.reason is CloseReason.PROTOCOL_ERROR and "without agreeing 'pg'" in ev.detail


def test_unknown_message_tag_is_a_protocol_error():
    pair = up_pair()
    body = msgspec.msgpack.encode(["teleport", 1, 2])
    pair.b.receive_data(struct.pack(">I", len(body)) + body)
    assert closed_now(pair.b).reason is CloseReason.PROTOCOL_ERROR


def closed_now(conn):
    evs = []
    while (ev := conn.next_event()) is not None:
        evs.append(ev)
    assert isinstance(evs[-1], LinkClosed)
    return evs[-1]


def test_bye_closes_the_peer_cleanly():
    pair = up_pair()
    pair.a.close("shutting down")
    pair.pump()
    ev = closed(pair, "b")
    assert ev.reason is CloseReason.PEER_CLOSED and ev.detail == "shutting down"
    assert closed(pair, "a").reason is CloseReason.LOCAL


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=2000), split=st.integers(0, 2000))
def test_arbitrary_bytes_end_only_that_link_with_a_protocol_error(junk, split):
    pair = up_pair()
    for part in (junk[:split], junk[split:]):
        if part:  # b"" means EOF
            pair.b.receive_data(part)
    evs = []
    while (ev := pair.b.next_event()) is not None:
        evs.append(ev)
    for ev in evs[:-1]:
        assert isinstance(ev, Received)  # junk that happens to decode is just a message
    if evs and isinstance(evs[-1], LinkClosed):
        assert evs[-1].reason is CloseReason.PROTOCOL_ERROR
        assert pair.b.state is State.CLOSED
    # the other end of an unrelated link is unaffected
    other = up_pair()
    other.a.queue(m.Send(1, 1, b"still fine"))
    other.pump()
    assert other.of("b", Received)


@settings(max_examples=200, deadline=None)
@given(junk=st.binary(max_size=500))
def test_arbitrary_bytes_during_handshake_never_authenticate(junk):
    b = Connection(
        name="b", creation=2, authenticator=ClusterSecret(SECRET), initiator=False, now=0.0
    )
    b.receive_data(junk)
    while (ev := b.next_event()) is not None:
        assert not isinstance(ev, (PeerVerified, PeerUp, Received))
    assert b.state in (State.AWAIT_HELLO, State.AWAIT_PROOF, State.CLOSED)


def test_local_close_sends_what_was_queued_before_bye():
    pair = up_pair()
    for i in range(3):
        pair.a.queue(m.Send(7, 1, b"%d" % i))
    pair.a.close("done")
    pair.pump()
    assert [e.message.payload for e in pair.of("b", Received)] == [b"0", b"1", b"2"]
    assert closed(pair, "b").reason is CloseReason.PEER_CLOSED


def test_bye_during_the_handshake_closes_cleanly():
    b = Connection(
        name="b", creation=2, authenticator=ClusterSecret(SECRET), initiator=False, now=0.0
    )
    body = m.ENCODER.encode(m.Bye("changed my mind"))
    b.receive_data(struct.pack(">I", len(body)) + body)
    ev = b.next_event()
    assert isinstance(ev, LinkClosed) and ev.reason is CloseReason.PEER_CLOSED
