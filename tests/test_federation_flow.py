"""Credit-based flow control for remote casts: the sans-IO core, old peers
without the ``credit`` flag, and two real hosts where a slow receiver makes
a fast sender wait with nothing lost."""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import trio

import hostkit
from hostkit import MailboxFull
from hostkit.federation import (
    CloseReason,
    ClusterSecret,
    Connection,
    LinkClosed,
    LinkConfig,
    NoCredit,
    PeerVerified,
    Received,
    RemotePid,
    SendBufferFull,
    State,
    open_host_federation,
)
from hostkit.federation import _messages as m
from hostkit.testing import MemoryNetwork

SECRET = bytes(range(32))
OLD_FLAGS = m.KNOWN_FLAGS - {m.FLAG_CREDIT}


def connect(*, flags_a=m.KNOWN_FLAGS, flags_b=m.KNOWN_FLAGS, window_a=8, window_b=8,
            binding_a=b"", binding_b=b"", require=True):
    """Two cores joined by hand; returns them after pumping the handshake."""
    a = Connection(
        name="a", creation=1, authenticator=ClusterSecret(SECRET), initiator=True, now=0.0,
        expected_peer="b", flags=flags_a, channel_binding=binding_a,
        config=LinkConfig(credit_window=window_a, require_channel_binding=require),
    )
    b = Connection(
        name="b", creation=2, authenticator=ClusterSecret(SECRET), initiator=False, now=0.0,
        flags=flags_b, channel_binding=binding_b,
        config=LinkConfig(credit_window=window_b, require_channel_binding=require),
    )
    pump(a, b)
    return a, b


def pump(a, b):
    """Move bytes both ways until quiet; accept verified peers; return b's Received."""
    got = []
    moved = True
    while moved:
        moved = False
        for src, dst in ((a, b), (b, a)):
            data = src.data_to_send()
            if data:
                dst.receive_data(data)
                moved = True
        for conn in (a, b):
            while (event := conn.next_event()) is not None:
                if isinstance(event, PeerVerified):
                    conn.accept()
                    moved = True
                elif isinstance(event, Received) and conn is b:
                    got.append(event.message)
                elif isinstance(event, LinkClosed):
                    conn.last_close = event
    return got


def cast(to, n=0):
    return m.Send(to, 1, b"x%d" % n)


def test_the_sender_spends_the_receivers_window_and_then_gets_no_credit():
    a, b = connect(window_b=3)
    assert m.FLAG_CREDIT in a.flags and m.FLAG_CREDIT in b.flags
    assert a.credit_left(7) == 3  # b's window, announced in its Hello
    for i in range(3):
        a.queue(cast(7, i))
    with pytest.raises(NoCredit, match="actor 7 on node 'b'") as info:
        a.queue(cast(7))
    assert isinstance(info.value, SendBufferFull)  # send_nowait's family of refusals
    assert a.credit_left(8) == 3  # per target actor
    assert len(pump(a, b)) == 3
    assert b.owed == {7: 3}


def test_granted_credit_lets_the_sender_go_on_and_is_counted_exactly():
    a, b = connect(window_b=3)
    for i in range(3):
        a.queue(cast(7, i))
    pump(a, b)
    b.grant(7, 2)
    assert b.owed == {7: 1}
    epoch = a.credit_epoch
    pump(a, b)
    assert a.credit_left(7) == 2 and a.credit_epoch > epoch
    b.grant(7, 1)
    pump(a, b)
    assert a.credit_left(7) == 3 and b.owed == {}
    with pytest.raises(hostkit.FederationError):
        b.grant(7, 1)  # nothing owed: a grant would be a lie


def test_a_peer_that_casts_beyond_its_credit_breaks_the_protocol():
    a, b = connect(window_b=2)
    a._peer_window = 10  # a buggy or hostile sender ignores the window
    for i in range(3):
        a.queue(cast(7, i))
    got = pump(a, b)
    assert len(got) == 2
    assert b.state is State.CLOSED and b.last_close.reason is CloseReason.PROTOCOL_ERROR
    assert "without credit" in b.last_close.detail


def test_a_peer_that_casts_but_never_reads_its_credit_is_cut_off():
    a, b = connect(window_b=1)
    a._peer_window = 10**9  # ignores the window, never reads what b sends
    b.config = LinkConfig(credit_window=1, send_buffer=16 * 1024)
    for i in range(3000):
        a.queue(cast(7, i))
        b.receive_data(a.data_to_send())
        while (event := b.next_event()) is not None:
            if isinstance(event, LinkClosed):
                b.last_close = event
        if b.closed:
            break
        b.grant(7, 1)  # b's reader grants as its mailbox drains
    assert b.closed and b.last_close.reason is CloseReason.PROTOCOL_ERROR
    assert "does not read the credit" in b.last_close.detail


def test_credit_for_casts_never_sent_breaks_the_protocol():
    a, b = connect()
    b._owed[7] = 1  # b pretends a cast arrived
    b.grant(7, 1)
    pump(a, b)
    assert a.state is State.CLOSED and a.last_close.reason is CloseReason.PROTOCOL_ERROR
    assert "not sent" in a.last_close.detail


@pytest.mark.parametrize("old", ["a", "b"])
def test_an_old_peer_without_the_credit_flag_keeps_working_without_credit(old):
    a, b = connect(
        flags_a=OLD_FLAGS if old == "a" else m.KNOWN_FLAGS,
        flags_b=OLD_FLAGS if old == "b" else m.KNOWN_FLAGS,
        window_b=2,
    )
    assert a.state is State.ESTABLISHED and b.state is State.ESTABLISHED
    assert m.FLAG_CREDIT not in a.flags and m.FLAG_CREDIT not in b.flags
    assert a.credit_left(7) is None
    for i in range(10):  # no window applies
        a.queue(cast(7, i))
    assert len(pump(a, b)) == 10 and b.owed == {}
    frame = m.ENCODER.encode(m.Credit(7, 1))
    b._urgent += len(frame).to_bytes(4, "big") + frame
    pump(a, b)  # Credit without agreeing the flag: a protocol error
    assert a.last_close.reason is CloseReason.PROTOCOL_ERROR


def test_credit_without_a_window_in_hello_is_refused():
    a = Connection(name="a", creation=1, authenticator=ClusterSecret(SECRET), initiator=True,
                   now=0.0, expected_peer="b")
    b = Connection(name="b", creation=2, authenticator=ClusterSecret(SECRET), initiator=False,
                   now=0.0)
    b._hello_flags = lambda: sorted(b._offered)  # offers credit, announces no window
    pump(a, b)
    assert a.state is State.CLOSED and a.last_close.reason is CloseReason.PROTOCOL_ERROR
    assert "credit-window" in a.last_close.detail


# ----------------------------------------------------------- two real hosts


@asynccontextmanager
async def two_hosts(cache_dir, *, mailbox, window, flags_a=m.KNOWN_FLAGS):
    net = MemoryNetwork()
    async with AsyncExitStack() as stack:
        hosts, feds = {}, {}
        for name in ("a", "b"):
            cfg = hostkit.HostConfig(
                node_name=name, scheduler_threads=1, cache_dir=cache_dir,
                mailbox_capacity=mailbox, activation_timeout=2.0,
            )
            hosts[name] = await stack.enter_async_context(hostkit.open_host(cfg))
            feds[name] = await stack.enter_async_context(
                open_host_federation(
                    hosts[name], authenticator=ClusterSecret(SECRET), transport=net,
                    policy=Allow(), config=LinkConfig(credit_window=window),
                    flags=flags_a if name == "a" else m.KNOWN_FLAGS,
                )
            )
        feds["a"].add_peer("b", await feds["b"].listen("b"))
        with trio.fail_after(10):
            await feds["a"].wait_up("b")
            await feds["b"].wait_up("a")
        yield hosts, feds


class Allow:
    def allows(self, peer, action, target, context):
        return True


async def _count(host, pid, want):
    with trio.fail_after(60):
        while (count := int(await host.call(pid, "count"))) < want:
            await trio.sleep(0.01)
    return count


async def test_a_slow_receiver_makes_a_fast_sender_wait_and_nothing_is_lost(cache_dir, wasm):
    n = 3000
    async with two_hosts(cache_dir, mailbox=16, window=8) as (hosts, feds):
        hosts["b"].load(wasm["echo"], name="echo")
        pid = await hosts["b"].spawn("echo")
        target = RemotePid(pid.node, pid.creation, pid.id)
        link = feds["a"].link_to("b")
        waited = 0
        for i in range(n):
            if link.connection.credit_left(pid.id) == 0:
                waited += 1  # the next send_wait has to wait for the receiver
            await feds["a"].send_wait(target, 0, b"%d" % i)
        assert waited > 0
        assert await _count(hosts["b"], pid, n) == n  # every cast delivered: 0 losses
        # and the receiver held no more than the window at any time: its
        # mailbox (16) never refused one, so nothing came back undeliverable
        assert feds["b"].link_to("a").connection.owed.get(pid.id, 0) <= 8


async def test_without_credit_the_same_flood_is_reported_as_mailbox_full(cache_dir, wasm):
    """The old behaviour, with an old peer: losses happen and are reported."""
    n = 3000
    async with two_hosts(cache_dir, mailbox=16, window=8, flags_a=OLD_FLAGS) as (hosts, feds):
        hosts["b"].load(wasm["echo"], name="echo")
        pid = await hosts["b"].spawn("echo")
        target = RemotePid(pid.node, pid.creation, pid.id)
        assert feds["a"].link_to("b").connection.credit_left(pid.id) is None
        for i in range(n):
            await feds["a"].send_wait(target, 0, b"%d" % i)
        await trio.sleep(0.5)
        count = await _count(hosts["b"], pid, 1)
        assert count < n  # the mailbox of 16 overflowed (reported back to a, not silent)


async def test_host_send_fails_clearly_when_the_remote_actor_has_no_credit(cache_dir, wasm):
    async with two_hosts(cache_dir, mailbox=16, window=4) as (hosts, feds):
        hosts["b"].load(wasm["echo"], name="echo")
        pid = await hosts["b"].spawn("echo")
        target = RemotePid(pid.node, pid.creation, pid.id)
        for i in range(4):
            feds["a"].send(target, 0, b"%d" % i)
        with pytest.raises(NoCredit):
            feds["a"].send(target, 0, b"one too many")
        with pytest.raises(MailboxFull):
            hosts["a"].send(pid, "through the router too")
        with trio.fail_after(10):  # once b's actor drained them, credit is back
            while feds["a"].link_to("b").connection.credit_left(pid.id) < 4:
                await trio.sleep(0.01)
        hosts["a"].send(pid, "now it fits")
        assert await _count(hosts["b"], pid, 5) == 5
