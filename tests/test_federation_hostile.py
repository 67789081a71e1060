"""An authenticated but hostile peer: forged exits and DOWNs, floods, oversized tables.

The evil peer is a bare protocol core (``Connection``) driven by hand over
the in-memory transport, so it can send anything the protocol allows.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import trio
from test_federation_nodes import SECRET, Actors, Allow

from hostkit.federation import (
    ClusterSecret,
    Connection,
    LinkConfig,
    PeerUp,
    PeerVerified,
    Received,
    open_federation,
)
from hostkit.federation import _messages as m
from hostkit.testing import MemoryNetwork


class Evil:
    def __init__(self, conn, channel):
        self.conn, self.channel = conn, channel
        self.received = []

    async def flush(self):
        if data := self.conn.data_to_send():
            await self.channel.send_bytes(data)

    async def pump_until(self, predicate):
        with trio.fail_after(5):
            while not predicate():
                await self.flush()
                data = await self.channel.receive_bytes()
                self.conn.receive_data(data)
                while (ev := self.conn.next_event()) is not None:
                    if isinstance(ev, PeerVerified):
                        self.conn.accept()
                    self.received.append(ev)
                await self.flush()

    async def send(self, message):
        self.conn.queue(message)
        await self.flush()


@asynccontextmanager
async def evil_peer(config=None, flags=m.KNOWN_FLAGS, policy=None):
    net = MemoryNetwork()
    host = Actors()
    async with open_federation(
        "b",
        authenticator=ClusterSecret(SECRET),
        transport=net,
        local=host,
        policy=policy or Allow(),
        config=config,
    ) as fed:
        host.fed = fed
        await fed.listen("b")
        async with net.open_channel("b") as channel:
            conn = Connection(
                name="evil",
                creation=66,
                authenticator=ClusterSecret(SECRET),
                initiator=True,
                now=trio.current_time(),
                expected_peer="b",
                config=config,
                flags=flags,
            )
            evil = Evil(conn, channel)
            await evil.pump_until(lambda: any(isinstance(e, PeerUp) for e in evil.received))
            await fed.wait_up("evil")
            yield evil, fed, host


async def test_forged_exit_and_down_for_links_and_monitors_that_do_not_exist_are_ignored():
    # an exit signal without a link is exit/2: the policy decides it (denied here)
    async with evil_peer(policy=Allow(deny={"hostkit:federation#exit"})) as (evil, _fed, host):
        victim = host.new()
        await evil.send(m.Exit(1, victim, "killed"))
        await evil.send(m.Down(1, victim, 99, "noconnection"))
        await evil.send(m.Spawned(12345, 7))  # an answer to nothing
        await evil.send(m.WhereisReply(777, 7))
        await evil.send(m.Send(victim, 1, b"marker"))
        await host.wait_for(lambda: host.of("delivered"))
        assert host.of("exit") == [] and host.of("down") == []
        assert victim in host.mailbox
        # a real link: now an exit from that pid is accepted, once
        await evil.send(m.Link(5, victim))
        await evil.send(m.Exit(5, victim, "error", "boom"))
        await evil.send(m.Exit(5, victim, "error", "again"))
        await evil.send(m.Send(victim, 1, b"marker 2"))
        await host.wait_for(lambda: len(host.of("delivered")) == 2)
        assert [e[1:] for e in host.of("exit")] == [(victim, "error")]


async def test_unknown_exit_kinds_from_a_peer_become_error():
    async with evil_peer() as (evil, _fed, host):
        victim = host.new()
        await evil.send(m.Link(5, victim))
        await evil.send(m.Exit(5, victim, "normal\x1b[31m", "x"))
        await host.wait_for(lambda: host.of("exit"))
        assert host.of("exit")[0][2] == "error"


async def test_a_peer_announcing_too_many_group_members_is_disconnected():
    async with evil_peer() as (evil, fed, host):
        fed.pg._max_remote = 5000
        for i in range(2):
            await evil.send(m.PgJoin(f"g{i}", list(range(4000))))
        await host.wait_for(lambda: host.of("node-down"))
        assert "protocol-error" in host.of("node-down")[0][1]
        assert fed.pg_members("g0") == []


async def test_a_peer_that_never_reads_its_answers_is_disconnected(autojump_clock):
    cfg = LinkConfig(heartbeat_timeout=1000.0, fragment_size=1024, max_frame=4096, send_buffer=4096)
    # without the credit flag (an older peer): with it, a peer that never
    # reads runs out of credit (its own core stops it, or b's if it ignores it)
    async with evil_peer(cfg, flags=m.KNOWN_FLAGS - {m.FLAG_CREDIT}) as (evil, _fed, host):
        # undeliverable reports pile up on b's side while evil never reads
        for i in range(2000):
            evil.conn.queue(m.Send(999_999, 1, b"", i))
            await evil.flush()
            if host.of("node-down"):
                break
        await host.wait_for(lambda: host.of("node-down"))
        assert "does not read" in host.of("node-down")[0][1]


async def test_a_peer_cannot_make_this_node_spawn_more_than_the_cap_at_once():
    from test_federation_nodes import ECHO

    from hostkit.federation._federation import MAX_CONCURRENT_SPAWNS

    async with evil_peer() as (evil, _fed, host):
        gate = trio.Event()
        started = []

        async def slow_spawn(peer, component, digest, args, on_spawned):
            started.append(1)
            await gate.wait()
            pid = host.new()
            on_spawned(pid)
            return pid

        host.spawn = slow_spawn
        for req in range(1, MAX_CONCURRENT_SPAWNS + 3):
            evil.conn.queue(m.Spawn(req, 1, "echo", ECHO, b""))

        def answers():
            return [
                e.message
                for e in evil.received
                if isinstance(e, Received) and isinstance(e.message, m.Spawned)
            ]

        await evil.pump_until(lambda: len(answers()) == 2)
        assert all(a.error.startswith("busy") for a in answers())
        assert len(started) == MAX_CONCURRENT_SPAWNS
        gate.set()
        await evil.pump_until(lambda: len(answers()) == MAX_CONCURRENT_SPAWNS + 2)
        assert sum(a.pid > 0 for a in answers()) == MAX_CONCURRENT_SPAWNS
