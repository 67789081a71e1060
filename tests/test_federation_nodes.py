"""Two and three nodes in one process: the Federation seam end to end.

The router (issue 7) is not merged yet, so the local host is ``Actors``
below: a minimal implementation of the ``LocalNode`` contract (mailboxes
as lists). Everything under it -- links, handshake, policy, transports,
heartbeats -- is the real thing.
"""

from __future__ import annotations

import hashlib
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import trio
import trio.lowlevel

from hostkit import NoProc, SpawnError
from hostkit.audit import AuditLog
from hostkit.federation import (
    ClusterSecret,
    LinkConfig,
    NodeUnreachable,
    RemotePid,
    SendBufferFull,
    open_federation,
)
from hostkit.federation._local import EXIT_KINDS
from hostkit.testing import MemoryNetwork, capture_audit

SECRET = bytes(range(32))
ECHO = hashlib.sha256(b"echo component").hexdigest()
T = 4.0  # heartbeat timeout in these tests (virtual seconds)


class Actors:
    """A minimal local host: mailboxes are lists, nothing runs."""

    def __init__(self, capacity=1000):
        self.mailbox: dict[int, list] = {}
        self.names: dict[str, int] = {}
        self.log: list[tuple] = []
        self.capacity = capacity
        self.next_pid = 1
        self.fed = None
        self.changed = trio.Event()

    def _note(self, *entry):
        self.log.append(entry)
        self.changed.set()
        self.changed = trio.Event()

    async def wait_for(self, predicate):
        with trio.fail_after(60):
            while not predicate():
                await self.changed.wait()

    def of(self, kind):
        return [e[1:] for e in self.log if e[0] == kind]

    def new(self, name=None):
        pid = self.next_pid
        self.next_pid += 1
        self.mailbox[pid] = []
        if name:
            self.names[name] = pid
        return pid

    def exit(self, pid, kind="error", detail=""):
        del self.mailbox[pid]
        self.fed.local_exited(pid, kind, detail)

    # -- LocalNode
    def deliver(self, sender, target, payload):
        box = self.mailbox.get(target)
        if box is None:
            return "noproc"
        if len(box) >= self.capacity:
            return "mailbox-full"
        box.append((sender, payload))
        self._note("delivered", target, sender, payload)
        return None

    def deliver_call(self, sender, target, ref, payload, timeout_ms):
        reason = self.deliver(sender, target, payload)
        if reason is None:
            self.fed.reply(sender, target, ref, b"re: " + payload)
        return reason

    def deliver_reply(self, sender, target, ref, payload):
        self._note("reply", sender, target, ref, payload)

    def undeliverable(self, sender, target, tag, reason):
        self._note("undeliverable", sender, target, tag, reason)

    def whereis(self, name):
        return self.names.get(name)

    def is_alive(self, pid):
        return pid in self.mailbox

    def exit_signal(self, sender, target, kind, detail):
        self._note("exit", sender, target, kind)

    def down(self, target, watcher, ref, kind, detail):
        self._note("down", target, watcher, ref, kind)

    async def spawn(self, peer, component, digest, args, on_spawned):
        await trio.lowlevel.checkpoint()
        if component != "echo" or digest != ECHO:
            raise LookupError(f"no component {component!r} with that digest")
        pid = self.new()
        on_spawned(pid)
        if args == b"die-at-once":
            self.exit(pid, "error", "init crashed")
        return pid

    def node_up(self, node):
        self._note("node-up", node)

    def node_down(self, node, reason):
        self._note("node-down", node, reason)


class Allow:
    def __init__(self, deny=()):
        self.deny = set(deny)
        self.asked = []

    def allows(self, peer, action, target, context):
        self.asked.append((peer.name, action, target))
        return action not in self.deny


@asynccontextmanager
async def cluster(
    names=("a", "b"), *, config=None, policies=None, net=None, transport=None, hosts=None
):
    net = net or MemoryNetwork()
    cfg = config or LinkConfig(heartbeat_timeout=T)
    async with AsyncExitStack() as stack:
        feds, actors = {}, {}
        for name in names:
            actors[name] = (hosts or {}).get(name) or Actors()
            fed = await stack.enter_async_context(
                open_federation(
                    name,
                    authenticator=ClusterSecret(SECRET),
                    transport=transport or net,
                    local=actors[name],
                    policy=(policies or {}).get(name) or Allow(),
                    config=cfg,
                    reconnect=(0.5, 2.0),
                    audit=AuditLog(node=name),
                )
            )
            actors[name].fed = fed
            feds[name] = fed
        addresses = {
            name: await fed.listen(name if transport is None else "127.0.0.1:0")
            for name, fed in feds.items()
        }
        # the first node dials every other node; later nodes dial those after them
        for i, name in enumerate(names):
            for other in names[i + 1 :]:
                feds[name].add_peer(other, addresses[other])
        with trio.fail_after(30):
            for i, name in enumerate(names):
                for other in names[i + 1 :]:
                    await feds[name].wait_up(other)
                    await feds[other].wait_up(name)
        yield feds, actors, net


def rpid(fed, pid):
    return RemotePid(fed.node.name, fed.node.creation, pid)


async def test_send_arrives_in_order_and_failures_come_back_to_the_sender():
    async with cluster() as (feds, actors, _):
        a, b = actors["a"], actors["b"]
        sender, target = a.new(), b.new()
        for i in range(100):
            feds["a"].send(rpid(feds["b"], target), sender, f"m{i}".encode(), tag=i)
        feds["a"].send(rpid(feds["b"], 999), sender, b"to nobody", tag=7)
        await a.wait_for(lambda: a.of("undeliverable"))
        assert [p for _, p in b.mailbox[target]] == [f"m{i}".encode() for i in range(100)]
        assert all(s == rpid(feds["a"], sender) for s, _ in b.mailbox[target])
        assert a.of("undeliverable") == [(sender, rpid(feds["b"], 999), 7, "noproc")]


async def test_a_full_remote_mailbox_is_reported_back():
    async with cluster(hosts={"b": Actors(capacity=3)}) as (feds, actors, _):
        a, b = actors["a"], actors["b"]
        sender, target = a.new(), b.new()
        for i in range(5):
            feds["a"].send(rpid(feds["b"], target), sender, f"m{i}".encode(), tag=i)
        await a.wait_for(lambda: len(a.of("undeliverable")) == 2)
        assert [e[2:] for e in a.of("undeliverable")] == [(3, "mailbox-full"), (4, "mailbox-full")]
        assert len(b.mailbox[target]) == 3  # 3 delivered + 2 reported: none silently lost


async def test_call_and_named_send_and_whereis():
    async with cluster() as (feds, actors, _):
        a, b = actors["a"], actors["b"]
        caller, server = a.new(), b.new("billing")
        assert await feds["a"].whereis("b", "billing") == rpid(feds["b"], server)
        assert await feds["a"].whereis("b", "nobody") is None
        feds["a"].call(rpid(feds["b"], server), caller, 42, b"ping", timeout_ms=1000)
        feds["a"].send_named("b", "billing", caller, b"by name")
        await a.wait_for(lambda: a.of("reply"))
        assert a.of("reply") == [(rpid(feds["b"], server), caller, 42, b"re: ping")]
        await b.wait_for(lambda: len(b.mailbox[server]) == 2)


async def test_sending_to_an_unknown_node_or_a_stale_pid_is_an_error_to_the_sender():
    async with cluster() as (feds, actors, _):
        with pytest.raises(NodeUnreachable):
            feds["a"].send(RemotePid("c", 1, 1), 1, b"x")
        stale = RemotePid("b", feds["b"].node.creation ^ 1, 1)
        with capture_audit() as records, pytest.raises(NoProc, match="earlier boot"):
            feds["a"].send(stale, 1, b"x")
        (drop,) = records.where(event="federation-drop")
        assert drop["node"] == "a" and drop["resource"] == str(stale)
        actors["a"].new()
        feds["a"].monitor(1, stale, ref=5)
        assert actors["a"].of("down") == [(stale, 1, 5, "noproc")]


async def test_remote_exit_reaches_linked_local_actor_and_links_are_per_pair():
    async with cluster() as (feds, actors, _):
        a, b = actors["a"], actors["b"]
        la, rb = a.new(), b.new()
        feds["a"].link(la, rpid(feds["b"], rb))
        await trio.testing.wait_all_tasks_blocked()
        b.exit(rb, "error", "boom")
        await a.wait_for(lambda: a.of("exit"))
        assert a.of("exit") == [(rpid(feds["b"], rb), la, "error")]
        # and the other way round
        rb2 = b.new()
        feds["a"].link(la, rpid(feds["b"], rb2))
        await trio.testing.wait_all_tasks_blocked()
        a.exit(la, "killed")
        await b.wait_for(lambda: b.of("exit"))
        assert b.of("exit") == [(rpid(feds["a"], la), rb2, "killed")]


async def test_link_to_a_dead_remote_pid_gives_exit_noproc():
    async with cluster() as (feds, actors, _):
        a = actors["a"]
        la = a.new()
        feds["a"].link(la, rpid(feds["b"], 777))
        await a.wait_for(lambda: a.of("exit"))
        assert a.of("exit") == [(rpid(feds["b"], 777), la, "noproc")]


async def test_monitor_gets_down_with_the_reason_and_at_once_when_unreachable():
    async with cluster() as (feds, actors, _):
        a, b = actors["a"], actors["b"]
        watcher, target = a.new(), b.new()
        feds["a"].monitor(watcher, rpid(feds["b"], target), ref=1)
        await trio.testing.wait_all_tasks_blocked()
        b.exit(target, "normal")
        await a.wait_for(lambda: a.of("down"))
        assert a.of("down") == [(rpid(feds["b"], target), watcher, 1, "normal")]
        feds["a"].monitor(watcher, RemotePid("nowhere", 1, 1), ref=2)
        assert a.of("down")[-1] == (RemotePid("nowhere", 1, 1), watcher, 2, "noconnection")


async def test_cut_connection_fires_noconnection_then_reconnects(autojump_clock):
    with capture_audit() as records:
        await _cut_and_reconnect()
    ups = records.where(event="federation-connect", node="a", peer="b")
    downs = records.where(event="federation-down", node="a", peer="b")
    assert len(ups) == 2 and downs[0]["reason"] == "transport"  # then the shutdown's


async def _cut_and_reconnect():
    async with cluster() as (feds, actors, net):
        a, b = actors["a"], actors["b"]
        la, rb, watched = a.new(), b.new(), b.new()
        old_b = feds["b"].node
        feds["a"].link(la, rpid(feds["b"], rb))
        feds["a"].monitor(la, rpid(feds["b"], watched), ref=9)
        feds["b"].pg_join("workers", [rb])
        await trio.testing.wait_all_tasks_blocked()
        assert feds["a"].pg_members("workers") == [rpid(feds["b"], rb)]
        net.wires[-1].cut()
        await a.wait_for(lambda: a.of("node-down"))
        assert sorted(a.of("exit") + a.of("down"), key=str) == sorted(
            [
                (rpid(feds["b"], rb), la, "noconnection"),
                (rpid(feds["b"], watched), la, 9, "noconnection"),
            ],
            key=str,
        )
        assert feds["a"].pg_members("workers") == []
        assert b.of("node-down")
        with pytest.raises(NodeUnreachable):
            feds["a"].send(rpid(feds["b"], rb), la, b"lost?")
        # the dialler reconnects with backoff; the same boot of b comes back
        assert await feds["a"].wait_up("b") == old_b
        await a.wait_for(lambda: len(a.of("node-up")) == 2)
        await trio.testing.wait_all_tasks_blocked()
        assert feds["a"].pg_members("workers") == [rpid(feds["b"], rb)]  # synced again


async def test_silent_partition_is_detected_by_heartbeats_within_t_to_1_25t(autojump_clock):
    async with cluster() as (_feds, actors, net):
        a = actors["a"]
        await trio.sleep(10 * T)  # idle: ticks keep the link up
        assert not a.of("node-down")
        net.wires[-1].partition()
        start = trio.current_time()
        await a.wait_for(lambda: a.of("node-down"))
        silent = trio.current_time() - start
        assert T <= silent <= 1.25 * T + T / 4  # + one tick period: when silence began
        assert "heartbeat-timeout" in a.of("node-down")[0][1]


async def test_delayed_wire_keeps_order(autojump_clock):
    async with cluster() as (feds, actors, net):
        a, b = actors["a"], actors["b"]
        net.wires[-1].delay = 0.5
        s, t = a.new(), b.new()
        for i in range(50):
            await feds["a"].send_wait(rpid(feds["b"], t), s, f"m{i}".encode())
        await b.wait_for(lambda: len(b.mailbox[t]) == 50)
        assert [p for _, p in b.mailbox[t]] == [f"m{i}".encode() for i in range(50)]


async def test_full_send_buffer_fails_nowait_sends_and_blocks_awaitable_ones(autojump_clock):
    cfg = LinkConfig(heartbeat_timeout=1000.0, fragment_size=1024, max_frame=4096, send_buffer=8192)
    async with cluster(config=cfg) as (feds, actors, _net):
        a, b = actors["a"], actors["b"]
        s, t = a.new(), b.new()
        # sends without a checkpoint in between: the writer cannot drain yet
        link = feds["a"].link_to("b")
        sent = 0
        with pytest.raises(SendBufferFull):
            for _ in range(1000):
                feds["a"].send(rpid(feds["b"], t), s, b"x" * 900)
                sent += 1
        assert link.connection.buffered >= 8192
        await feds["a"].send_wait(rpid(feds["b"], t), s, b"after the wait")  # room comes back
        await b.wait_for(lambda: len(b.mailbox[t]) == sent + 1)


async def test_remote_spawn_with_link_is_atomic_and_checked_by_digest():
    async with cluster() as (feds, actors, _):
        a, b = actors["a"], actors["b"]
        parent = a.new()
        child = await feds["a"].spawn("b", "echo", ECHO, b"", sender=parent, link=True)
        assert child.node == "b" and child.id in b.mailbox
        b.exit(child.id, "error", "crash")
        await a.wait_for(lambda: a.of("exit"))
        assert a.of("exit") == [(child, parent, "error")]
        # dies before the Spawned answer is even sent: the exit still arrives, after it
        child2 = await feds["a"].spawn("b", "echo", ECHO, b"die-at-once", sender=parent, link=True)
        await a.wait_for(lambda: len(a.of("exit")) == 2)
        assert a.of("exit")[1] == (child2, parent, "error")
        with pytest.raises(SpawnError, match="LookupError"):
            await feds["a"].spawn("b", "echo", "0" * 64)


async def test_policy_denies_spawn_send_link_and_monitor_with_an_answer():
    deny = Allow(
        deny={
            "hostkit:plugin/process#spawn",
            "hostkit:plugin/process#send",
            "hostkit:federation#link",
            "hostkit:federation#monitor",
        }
    )
    async with cluster(policies={"b": deny}) as (feds, actors, _):
        a, b = actors["a"], actors["b"]
        la, rb = a.new(), b.new()
        with pytest.raises(SpawnError, match="denied"):
            await feds["a"].spawn("b", "echo", ECHO)
        feds["a"].send(rpid(feds["b"], rb), la, b"no", tag=3)
        feds["a"].link(la, rpid(feds["b"], rb))
        feds["a"].monitor(la, rpid(feds["b"], rb), ref=4)
        await a.wait_for(lambda: a.of("undeliverable") and a.of("exit") and a.of("down"))
        assert a.of("undeliverable") == [(la, rpid(feds["b"], rb), 3, "denied")]
        assert a.of("exit") == [(rpid(feds["b"], rb), la, "denied")]
        assert a.of("down") == [(rpid(feds["b"], rb), la, 4, "denied")]
        assert b.mailbox[rb] == [] and len(b.mailbox) == 1
        assert ("a", "hostkit:plugin/process#send") in {(p, act) for p, act, _ in deny.asked}


async def test_process_groups_across_three_nodes_and_a_node_leaving(autojump_clock):
    async with cluster(("a", "b", "c")) as (feds, actors, net):
        a, b, c = actors["a"], actors["b"], actors["c"]
        pa, pb, pc = a.new(), b.new(), c.new()
        feds["a"].pg_join("news", [pa])
        feds["b"].pg_join("news", [pb, pb])
        feds["c"].pg_join("news", [pc])
        await trio.testing.wait_all_tasks_blocked()
        members = feds["a"].pg_members("news")
        assert sorted(members, key=str) == sorted(
            [pa, rpid(feds["b"], pb), rpid(feds["b"], pb), rpid(feds["c"], pc)], key=str
        )
        assert feds["a"].pg_publish("news", pa, b"hello") == 3  # 1 local + 2 nodes
        await trio.testing.wait_all_tasks_blocked()
        assert [p for _, p in b.mailbox[pb]] == [b"hello", b"hello"]  # joined twice
        assert [p for _, p in c.mailbox[pc]] == [b"hello"]
        feds["b"].pg_leave("news", [pb])
        await trio.testing.wait_all_tasks_blocked()
        assert feds["c"].pg_members("news").count(rpid(feds["b"], pb)) == 1
        c.exit(pc)  # an ended actor leaves every group
        await trio.testing.wait_all_tasks_blocked()
        assert rpid(feds["c"], pc) not in feds["a"].pg_members("news")
        feds["c"].pg_join("news", [c.new()])
        await trio.testing.wait_all_tasks_blocked()
        for wire in net.wires:
            if wire.address == "c":
                wire.cut()
        feds["a"].remove_peer("c")
        feds["b"].remove_peer("c")
        await a.wait_for(lambda: a.of("node-down"))
        await b.wait_for(lambda: b.of("node-down"))
        assert all(getattr(m, "node", "a") != "c" for m in feds["a"].pg_members("news"))
        assert all(getattr(m, "node", "b") != "c" for m in feds["b"].pg_members("news"))


async def test_websocket_federation_on_loopback():
    from hostkit.federation import WebsocketTransport

    async with cluster(transport=WebsocketTransport()) as (feds, actors, _):
        a, b = actors["a"], actors["b"]
        la, rb = a.new(), b.new()
        feds["a"].link(la, rpid(feds["b"], rb))
        for i in range(20):
            await feds["a"].send_wait(rpid(feds["b"], rb), la, b"y" * 50_000 + str(i).encode())
        await b.wait_for(lambda: len(b.mailbox[rb]) == 20)
        assert [p[50_000:] for _, p in b.mailbox[rb]] == [str(i).encode() for i in range(20)]
        b.exit(rb, "error")
        await a.wait_for(lambda: a.of("exit"))


def test_exit_kinds_match_the_runtime():
    from hostkit.runtime import ExitReason

    runtime_kinds = set(ExitReason.KINDS) | {"protocol", "limit"}  # added by the router
    assert runtime_kinds == set(EXIT_KINDS)


async def test_under_load_every_send_is_delivered_in_order_or_reported(autojump_clock):
    async with cluster(hosts={"b": Actors(capacity=50)}) as (feds, actors, _):
        a, b = actors["a"], actors["b"]
        s, t = a.new(), b.new()
        delivered = []

        async def consumer():
            while True:
                await trio.sleep(0.001)
                delivered.extend(p for _, p in b.mailbox[t])
                b.mailbox[t].clear()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer)
            total = 3000
            for i in range(total):
                await feds["a"].send_wait(rpid(feds["b"], t), s, b"%d" % i, tag=i)
            with trio.fail_after(600):
                while len(delivered) + len(a.of("undeliverable")) < total:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        reported = [tag for _, _, tag, reason in a.of("undeliverable") if reason == "mailbox-full"]
        got = [int(p) for p in delivered]
        assert got == sorted(got)  # in order
        assert sorted(got + reported) == list(range(total))  # 0 silent losses
        assert reported  # the mailbox did overflow under this load


async def test_websocket_socket_closed_mid_stream_gives_noconnection_then_reconnects():
    from hostkit.federation import WebsocketTransport

    channels = []

    class Recording(WebsocketTransport):
        async def serve(self, address, on_channel, *, task_status=trio.TASK_STATUS_IGNORED):
            async def record(channel):
                channels.append(channel)
                await on_channel(channel)

            await super().serve(address, record, task_status=task_status)

    async with cluster(transport=Recording()) as (feds, actors, _):
        a, b = actors["a"], actors["b"]
        la, rb = a.new(), b.new()
        feds["a"].link(la, rpid(feds["b"], rb))
        feds["a"].send(rpid(feds["b"], rb), la, b"x" * 100_000)
        await trio.aclose_forcefully(channels[-1]._ws._stream)  # the socket, not a Bye
        await a.wait_for(lambda: a.of("node-down"))
        assert a.of("exit") == [(rpid(feds["b"], rb), la, "noconnection")]
        await a.wait_for(lambda: len(a.of("node-up")) == 2)


async def test_a_restarted_node_replaces_its_old_link_at_once(autojump_clock):
    async with cluster() as (feds, actors, net):
        a = actors["a"]
        la = a.new()
        old_b = feds["b"].node
        feds["a"].link(la, RemotePid(old_b.name, old_b.creation, 1))
        net.wires[-1].partition()  # old b vanishes without a word
        new_host = Actors()
        async with open_federation(
            "b",
            authenticator=ClusterSecret(SECRET),
            transport=net,
            local=new_host,
            policy=Allow(),
            config=LinkConfig(heartbeat_timeout=1000.0),
        ) as new_b:
            new_host.fed = new_b
            new_b.add_peer("a", "a")
            with trio.fail_after(5):  # long before any heartbeat timeout
                await a.wait_for(lambda: len(a.of("node-up")) == 2)
            assert a.of("node-down")[0][0] == old_b
            assert "replaced by b#" in a.of("node-down")[0][1]  # not the heartbeat
            assert a.of("exit") == [(RemotePid("b", old_b.creation, 1), la, "noconnection")]
            assert feds["a"].peers() == [new_b.node]


async def test_three_nodes_over_websocket_publish_to_a_group():
    from hostkit.federation import WebsocketTransport

    async with cluster(("a", "b", "c"), transport=WebsocketTransport()) as (feds, actors, _):
        members = {name: actors[name].new() for name in feds}
        for name, pid in members.items():
            feds[name].pg_join("all", [pid])
        with trio.fail_after(10):
            while len(feds["c"].pg_members("all")) < 3:
                await trio.sleep(0.01)
        assert feds["c"].pg_publish("all", members["c"], b"to everyone") == 3
        for name in ("a", "b", "c"):
            await actors[name].wait_for(lambda name=name: actors[name].mailbox[members[name]])
            ((sender, payload),) = actors[name].mailbox[members[name]]
            assert payload == b"to everyone"
            assert sender in (members["c"], rpid(feds["c"], members["c"]))


async def test_node_monitors_see_up_and_down_and_a_slow_watcher_is_dropped(autojump_clock):
    from hostkit.federation import NodeDown, NodeUp

    async with cluster() as (feds, _actors, net):
        with feds["a"].watch_nodes() as events, feds["a"].watch_nodes(buffer=1) as slow:
            net.wires[-1].cut()
            first = await events.receive()
            assert isinstance(first, NodeDown) and first.node.name == "b"
            assert "transport" in first.reason
            second = await events.receive()
            assert second == NodeUp(feds["b"].node)  # redialled
            # the slow watcher got the first event, then was dropped, not waited for
            assert isinstance(await slow.receive(), NodeDown)
            with pytest.raises(trio.EndOfChannel):
                await slow.receive()
