"""Guests address actors on other nodes: two real hosts (wasmtime, real guests,
real Cedar) federated in one process, over memory and websocket on loopback.

The guest is ``plugins/wat/fed_agent.wat``: the host tells it what to do by
calls, and it reports what came back (replies, ``d``/``e``/``u`` frames).
"""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pluggy
import pytest
import trio

import hostkit
from hostkit.capabilities import Gate
from hostkit.federation import (
    ClusterSecret,
    LinkConfig,
    WebsocketTransport,
    federation_schema,
    open_host_federation,
)
from hostkit.testing import MemoryNetwork, capture_audit

SECRET = bytes(range(32))
NOPROC, FULL, TOO_LARGE, DENIED = 0, 1, 2, 3  # send-error indexes, as the guest replies them


class Allow:
    def __init__(self, deny=()):
        self.deny = set(deny)

    def allows(self, peer, action, target, context):
        return action not in self.deny


ALLOW_ALL = """
@id("all") permit (principal, action, resource);
"""


def _gate(policy: str = ALLOW_ALL) -> Gate:
    return Gate(pluggy.PluginManager("hostkit"), policies=policy, schema=federation_schema())


@asynccontextmanager
async def two_hosts(
    cache_dir: Path, transport, *, gate_a=None, policy_b=None, config=None, hosts_cfg=None
):
    async with AsyncExitStack() as stack:
        hosts, feds = {}, {}
        for name in ("a", "b"):
            cfg = hostkit.HostConfig(
                node_name=name,
                scheduler_threads=1,
                cache_dir=cache_dir,
                activation_timeout=10.0,
                **(hosts_cfg or {}),
            )
            gate = gate_a if name == "a" else None
            hosts[name] = await stack.enter_async_context(hostkit.open_host(cfg, capabilities=gate))
            feds[name] = await stack.enter_async_context(
                open_host_federation(
                    hosts[name],
                    authenticator=ClusterSecret(SECRET),
                    transport=transport,
                    policy=(policy_b if name == "b" and policy_b else Allow()),
                    config=config or LinkConfig(heartbeat_timeout=5.0),
                    reconnect=(0.1, 0.5),
                )
            )
        listen = "b" if isinstance(transport, MemoryNetwork) else "127.0.0.1:0"
        feds["a"].add_peer("b", await feds["b"].listen(listen))
        with trio.fail_after(10):
            await feds["a"].wait_up("b")
            await feds["b"].wait_up("a")
        for host in hosts.values():
            host.load(_wasm["fed_agent"], name="fed_agent")
            host.load(_wasm["echo"], name="echo")
        yield hosts, feds


_wasm: dict[str, Path] = {}


@pytest.fixture(autouse=True)
def _guests(wasm):
    _wasm.update(wasm)


@pytest.fixture(params=["memory", "websocket"])
def transport(request):
    return MemoryNetwork() if request.param == "memory" else WebsocketTransport()


def wire_of(fed, pid: hostkit.Pid) -> int:
    """The u64 a guest on ``fed``'s host uses for ``pid``."""
    return fed.local.guest_wire(pid)


def cmd(op: str, target: int = 0, extra: str = "") -> str:
    return f"{op}{target:016x}{extra}"


async def sync(host, agent, wire: int) -> None:
    """A call from ``agent`` to ``wire`` and back: what the agent sent that
    node before (a link, a monitor) has arrived there (FIFO per link)."""
    assert (await host.call(agent, cmd("C", wire, "00001388"))).startswith("ok")


async def log_of(host, agent) -> list[str]:
    return (await host.call(agent, "G")).splitlines()


async def wait_log(host, agent, line: str) -> list[str]:
    with trio.fail_after(10):
        while True:
            lines = await log_of(host, agent)
            if line in lines:
                return lines
            await trio.sleep(0.02)


async def test_a_guest_sends_calls_monitors_and_links_to_a_guest_on_another_host(
    cache_dir, transport
):
    async with two_hosts(cache_dir, transport) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        agent = await a.spawn("fed_agent")
        echo = await b.spawn("echo")
        wire = wire_of(feds["a"], echo)
        assert wire >> 48 != 0  # a node slot: not a local id
        with trio.fail_after(10):
            assert await a.call(agent, cmd("S", wire)) == "ok"
            assert await a.call(agent, cmd("C", wire, "00001388")) == "ok:ping"
            assert await b.call(echo, "count") == "1"  # the cast came before the call

            # monitor, then the target dies: DOWN carries the u64 the guest used
            assert len(await a.call(agent, cmd("M", wire))) == 16
            await sync(a, agent, wire)
            b.kill(echo)
            await wait_log(a, agent, f"d{wire:016x}:killed")

            # a trapping guest linked to a remote actor gets its exit as an `e` frame
            linked = await a.spawn("fed_agent")
            other = await b.spawn("echo")
            other_wire = wire_of(feds["a"], other)
            assert await a.call(linked, "T") == "ok"
            assert await a.call(linked, cmd("L", other_wire)) == "ok"
            await sync(a, linked, other_wire)
            b.exit(other, "error")
            await wait_log(a, linked, f"e{other_wire:016x}:error")

            # the other way: a's guest exiting ends b's linked actor
            doomed = await a.spawn("fed_agent")
            victim = await b.spawn("echo")
            assert await a.call(doomed, cmd("L", wire_of(feds["a"], victim))) == "ok"
            watch = b.monitor(victim)
            await sync(a, doomed, wire_of(feds["a"], victim))
            with pytest.raises(hostkit.ActorExited):
                await a.call(doomed, "X")
            assert (await watch.wait()).kind == "trap"


async def test_the_remote_sender_is_a_u64_the_receiving_guest_can_answer(cache_dir, transport):
    async with two_hosts(cache_dir, transport) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        agent_a = await a.spawn("fed_agent")
        agent_b = await b.spawn("fed_agent")
        with trio.fail_after(10):
            assert await a.call(agent_a, cmd("S", wire_of(feds["a"], agent_b))) == "ok"
            while not (lines := await log_of(b, agent_b)):
                await trio.sleep(0.02)
        (line,) = lines
        assert line.startswith("c") and line.endswith(":hello")
        sender = int(line[1:17], 16)
        assert sender >> 48 != 0
        assert feds["b"].local.guest_pid(sender) == agent_a
        with trio.fail_after(10):
            assert await b.call(agent_b, cmd("S", sender)) == "ok"
            await wait_log(a, agent_a, f"c{wire_of(feds['a'], agent_b):016x}:hello")
            # and a call back, answered by a's guest (an echo for actors)
            assert await b.call(agent_b, cmd("C", sender, "00001388")) == "ok:ping"


async def test_forged_node_slots_are_error_values_never_someone_elses_pid(cache_dir):
    async with two_hosts(cache_dir, MemoryNetwork()) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        agent = await a.spawn("fed_agent")
        local = await a.spawn("echo")
        remote = await b.spawn("echo")
        forged = [
            (77 << 48) | local.id,  # a slot nobody handed out, with a local id below
            (0xFFFF << 48) | local.id,  # every high bit
            (1 << 63) | remote.id,
            (wire_of(feds["a"], remote) & ~((1 << 48) - 1)) + (1 << 48) * 5 | remote.id,
        ]
        with trio.fail_after(10):
            for wire in forged:
                assert await a.call(agent, cmd("S", wire)) == f"e{NOPROC}"
                assert await a.call(agent, cmd("C", wire, "000003e8")) == f"e0{NOPROC}"
                assert await a.call(agent, cmd("L", wire)) == f"e{NOPROC}"
                await a.call(agent, cmd("M", wire))
                await wait_log(a, agent, f"d{wire:016x}:noproc")
            # nothing reached the local actor whose id the low bits name, nor b's
            assert await a.call(local, "count") == "0"
            assert await b.call(remote, "count") == "0"


async def test_without_federation_a_node_slot_names_nothing(host, wasm):
    host.load(wasm["fed_agent"], name="fed_agent")
    host.load(wasm["echo"], name="echo")
    agent = await host.spawn("fed_agent")
    echo = await host.spawn("echo")
    with trio.fail_after(10):
        for wire in ((1 << 48) | echo.id, (1 << 63) | echo.id):
            assert await host.call(agent, cmd("S", wire)) == f"e{NOPROC}"
            assert await host.call(agent, cmd("C", wire, "000003e8")) == f"e0{NOPROC}"
            assert await host.call(agent, cmd("L", wire)) == f"e{NOPROC}"
            await host.call(agent, cmd("O", wire, f"{3:016x}"))
        assert await host.call(echo, "count") == "0"
        lines = await log_of(host, agent)
    assert sum(line.endswith(":noproc") for line in lines) == 6  # 3 outbox casts x 2


async def test_a_pid_of_a_nodes_earlier_boot_is_noproc_after_it_reconnects(cache_dir, wasm):
    net = MemoryNetwork()
    cfg_a = hostkit.HostConfig(node_name="a", scheduler_threads=1, cache_dir=cache_dir)
    cfg_b = hostkit.HostConfig(node_name="b", scheduler_threads=1, cache_dir=cache_dir)
    common = dict(authenticator=ClusterSecret(SECRET), transport=net, policy=Allow())
    async with (
        hostkit.open_host(cfg_a) as a,
        open_host_federation(a, reconnect=(0.05, 0.2), **common) as fed_a,
    ):
        a.load(wasm["fed_agent"], name="fed_agent")
        agent = await a.spawn("fed_agent")
        async with (
            hostkit.open_host(cfg_b) as b1,
            open_host_federation(b1, **common) as fed_b1,
        ):
            fed_a.add_peer("b", await fed_b1.listen("b"))
            with trio.fail_after(10):
                await fed_a.wait_up("b")
            b1.load(wasm["echo"], name="echo")
            old = await b1.spawn("echo")
            old_wire = wire_of(fed_a, old)
            assert await a.call(agent, cmd("S", old_wire)) == "ok"
        async with (
            hostkit.open_host(cfg_b) as b2,
            open_host_federation(b2, **common) as fed_b2,
        ):
            assert b2.creation != b1.creation
            await fed_b2.listen("b")
            with trio.fail_after(10):
                while (peer := fed_a._up.get("b")) is None or peer.peer.creation != b2.creation:
                    await trio.sleep(0.05)
            b2.load(wasm["echo"], name="echo")
            new = await b2.spawn("echo")
            assert new.id == old.id  # same id on the new boot: the slot keeps them apart
            assert wire_of(fed_a, new) != old_wire
            with trio.fail_after(10):
                assert await a.call(agent, cmd("S", old_wire)) == f"e{NOPROC}"
                assert await a.call(agent, cmd("C", old_wire, "000003e8")) == f"e0{NOPROC}"
                assert await b2.call(new, "count") == "0"
                assert await a.call(agent, cmd("S", wire_of(fed_a, new))) == "ok"
                while await b2.call(new, "count") != "1":
                    await trio.sleep(0.02)


async def test_flooding_a_remote_node_is_bounded_by_the_links_send_buffer(cache_dir):
    cfg = LinkConfig(heartbeat_timeout=5.0, send_buffer=16 * 1024)
    async with two_hosts(cache_dir, MemoryNetwork(), config=cfg) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        agent = await a.spawn("fed_agent")
        echo = await b.spawn("echo")
        n = 400
        with trio.fail_after(20):
            reply = await a.call(agent, cmd("F", wire_of(feds["a"], echo), f"{n:016x}"))
            ok, full, other = map(int, reply.split())
            # one activation: the link took what fits in its buffer, the rest
            # is an error value at once (the scheduler thread never waited)
            assert ok + full == n and other == 0
            assert full > 0 and ok < n
            # every accepted send arrives (0 silent losses)
            while await b.call(echo, "count") != str(ok):
                await trio.sleep(0.02)
            assert await log_of(a, agent) == []  # nothing was reported undeliverable


async def test_an_ordered_stream_from_a_guest_arrives_whole_and_in_order(cache_dir, transport):
    async with two_hosts(cache_dir, transport) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        agent = await a.spawn("fed_agent")
        sink = await b.spawn("fed_agent")
        wire = wire_of(feds["a"], sink)
        n = 1000
        with trio.fail_after(30):
            # 1 + 499 + 500 outbox casts over three activations (a cap is 512 frames)
            first = await a.call(agent, cmd("O", wire, f"{1:016x}"))
            assert first == "ok"
            for chunk in (499, 500):
                assert await a.call(agent, cmd("O", wire, f"{chunk:016x}")) == "ok"
            while (await b.call(sink, "N")).split()[0] != str(n):
                await trio.sleep(0.05)
            assert await b.call(sink, "N") == f"{n} 0"  # all n, none out of order
            assert await log_of(a, agent) == []  # and none reported lost


async def test_the_sending_hosts_cedar_policy_decides_a_guests_remote_signals(cache_dir):
    policy = """
@id("remote-send") permit (
    principal == Plugin::"fed_agent",
    action == Action::"hostkit:federation#remote-send",
    resource == Node::"b")
when { context.size <= 16 };
"""
    with capture_audit() as records:
        async with two_hosts(cache_dir, MemoryNetwork(), gate_a=_gate(policy)) as (hosts, feds):
            a, b = hosts["a"], hosts["b"]
            agent = await a.spawn("fed_agent")
            echo = await b.spawn("echo")
            wire = wire_of(feds["a"], echo)
            with trio.fail_after(10):
                assert await a.call(agent, cmd("S", wire)) == "ok"
                assert await a.call(agent, cmd("C", wire, "000003e8")) == f"e0{DENIED}"
                assert await a.call(agent, cmd("L", wire)) == f"e{DENIED}"
                await a.call(agent, cmd("M", wire))
                await wait_log(a, agent, f"d{wire:016x}:noproc")  # as for a local target
                while await b.call(echo, "count") != "1":
                    await trio.sleep(0.02)
    decided = [
        (r["action"], r["decision"], r["resource"])
        for r in records.where(event="decision")
        if r["action"].startswith("hostkit:federation#remote-")
    ]
    assert decided == [
        ("hostkit:federation#remote-send", "allow", 'Node::"b"'),
        ("hostkit:federation#remote-call", "deny", 'Node::"b"'),
        ("hostkit:federation#remote-link", "deny", 'Node::"b"'),
        ("hostkit:federation#remote-monitor", "deny", 'Node::"b"'),
    ]


async def test_with_the_stock_schema_remote_signals_are_denied_by_default(cache_dir):
    default = Path(__file__).parent.parent / "capabilities" / "policies" / "default.cedar"
    gate = Gate(pluggy.PluginManager("hostkit"), policies=[default])
    async with two_hosts(cache_dir, MemoryNetwork(), gate_a=gate) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        agent = await a.spawn("fed_agent")
        echo = await b.spawn("echo")
        with trio.fail_after(10):
            assert await a.call(agent, cmd("S", wire_of(feds["a"], echo))) == f"e{DENIED}"
            assert await b.call(echo, "count") == "0"


async def test_the_receiving_nodes_policy_refusal_comes_back_to_the_guest(cache_dir):
    deny = Allow(deny={"hostkit:plugin/process#send", "hostkit:plugin/process#call"})
    async with two_hosts(cache_dir, MemoryNetwork(), policy_b=deny) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        agent = await a.spawn("fed_agent")
        echo = await b.spawn("echo")
        wire = wire_of(feds["a"], echo)
        with trio.fail_after(10):
            assert await a.call(agent, cmd("S", wire)) == "ok"  # handed to the link
            await wait_log(a, agent, f"u{wire:016x}:denied")  # b refused it: reported
            assert await a.call(agent, cmd("C", wire, "00001388")) == f"e0{DENIED}"
            assert await b.call(echo, "count") == "0"


async def test_a_guests_remote_call_times_out_with_its_own_timeout(cache_dir):
    net = MemoryNetwork()
    async with two_hosts(cache_dir, net) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        agent = await a.spawn("fed_agent")
        echo = await b.spawn("echo")
        net.wires[-1].partition()  # the call goes out, nothing comes back
        with trio.fail_after(10):
            assert await a.call(agent, cmd("C", wire_of(feds["a"], echo), "000000c8")) == "e1"


async def test_losing_the_link_gives_guests_exit_and_down_noconnection(cache_dir, transport):
    async with two_hosts(cache_dir, transport) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        linked = await a.spawn("fed_agent")
        watcher = await a.spawn("fed_agent")
        host_linked = await a.spawn("echo")
        target = await b.spawn("echo")
        wire = wire_of(feds["a"], target)
        with trio.fail_after(10):
            assert await a.call(linked, "T") == "ok"
            assert await a.call(linked, cmd("L", wire)) == "ok"
            await a.call(watcher, cmd("M", wire))
            a.link(host_linked, target)  # Host.link with another node's pid
            host_watch = a.monitor(host_linked)
            await trio.testing.wait_all_tasks_blocked()
            feds["a"].remove_peer("b")  # stop redialling, close the link
            await wait_log(a, linked, f"e{wire:016x}:noconnection")
            await wait_log(a, watcher, f"d{wire:016x}:noconnection")
            assert (await host_watch.wait()).kind == "noconnection"
            # and the node is unreachable now: an error value, at once
            assert await a.call(linked, cmd("S", wire)) == f"e{NOPROC}"
            assert await a.call(linked, cmd("L", wire)) == f"e{NOPROC}"


async def test_host_link_unlink_and_exit_take_another_nodes_pid(cache_dir):
    deny_exit = Allow(deny={"hostkit:federation#exit"})
    async with two_hosts(cache_dir, MemoryNetwork(), policy_b=deny_exit) as (hosts, _feds):
        a, b = hosts["a"], hosts["b"]
        local = await a.spawn("echo")
        remote = await b.spawn("echo")
        a.link(local, remote)
        a.unlink(local, remote)
        await trio.testing.wait_all_tasks_blocked()
        b.kill(remote)  # unlinked: local lives on
        await trio.sleep(0.2)
        assert a.is_alive(local)

        remote2 = await b.spawn("echo")
        a.link(local, remote2)
        watch = a.monitor(local)
        await trio.testing.wait_all_tasks_blocked()
        b.exit(remote2, "error")
        with trio.fail_after(10):
            assert (await watch.wait()).kind == "error"

        # exit/2 without a link: b's policy decides (denied here)
        remote3 = await b.spawn("echo")
        a.exit(remote3, "error")
        await trio.sleep(0.2)
        assert b.is_alive(remote3)
        with pytest.raises(hostkit.NoProc):
            a.link(await a.spawn("echo"), hostkit.Pid(1, "nowhere", 1))


async def test_host_exit_to_a_remote_actor_when_its_node_allows_it(cache_dir):
    async with two_hosts(cache_dir, MemoryNetwork()) as (hosts, _feds):
        a, b = hosts["a"], hosts["b"]
        remote = await b.spawn("echo")
        watch = b.monitor(remote)
        await trio.testing.wait_all_tasks_blocked()
        a.exit(remote, "error")
        with trio.fail_after(10):
            assert (await watch.wait()).kind == "error"


async def test_a_silent_partition_gives_guests_noconnection_within_the_heartbeat(cache_dir):
    net = MemoryNetwork()
    cfg = LinkConfig(heartbeat_timeout=1.0)
    async with two_hosts(cache_dir, net, config=cfg) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        linked = await a.spawn("fed_agent")
        watcher = await a.spawn("fed_agent")
        target = await b.spawn("echo")
        wire = wire_of(feds["a"], target)
        with trio.fail_after(10):
            assert await a.call(linked, "T") == "ok"
            assert await a.call(linked, cmd("L", wire)) == "ok"
            await a.call(watcher, cmd("M", wire))
            await sync(a, watcher, wire)
            net.wires[-1].partition()  # frames vanish: only the heartbeat notices
            await wait_log(a, linked, f"e{wire:016x}:noconnection")
            await wait_log(a, watcher, f"d{wire:016x}:noconnection")


async def test_a_peer_naming_senders_past_48_bits_is_refused_not_crashed(cache_dir, wasm):
    """A sender id no guest-visible u64 can carry (a hostile peer's): the
    cast and call are refused, the link and the host live on."""
    from test_federation_hostile import Evil

    from hostkit.federation import Connection, PeerUp, Received
    from hostkit.federation import _messages as m

    net = MemoryNetwork()
    cfg = hostkit.HostConfig(node_name="a", scheduler_threads=1, cache_dir=cache_dir)
    async with (
        hostkit.open_host(cfg) as a,
        open_host_federation(
            a, authenticator=ClusterSecret(SECRET), transport=net, policy=Allow()
        ) as fed,
    ):
        await fed.listen("a")
        a.load(wasm["fed_agent"], name="fed_agent")
        agent = await a.spawn("fed_agent")
        async with net.open_channel("a") as channel:
            conn = Connection(
                name="evil",
                creation=66,
                authenticator=ClusterSecret(SECRET),
                initiator=True,
                now=trio.current_time(),
                expected_peer="a",
            )
            evil = Evil(conn, channel)
            await evil.pump_until(lambda: any(isinstance(e, PeerUp) for e in evil.received))
            await fed.wait_up("evil")
            huge = 1 << 60
            await evil.send(m.Send(agent.id, huge, b"forged", 5))
            await evil.send(m.Call(agent.id, huge, 9, b"forged", 1000))
            await evil.send(m.Link(huge, agent.id))
            await evil.send(m.Send(agent.id, 3, b"fine", 6))

            def answers():
                return [
                    e.message
                    for e in evil.received
                    if isinstance(e, Received) and isinstance(e.message, m.Undeliverable)
                ]

            def exits():
                return [
                    e.message
                    for e in evil.received
                    if isinstance(e, Received) and isinstance(e.message, m.Exit)
                ]

            await evil.pump_until(lambda: len(answers()) >= 2 and exits())
            assert sorted((u.tag_, u.reason) for u in answers()) == [
                (5, "denied"),
                (9, "denied"),
            ]
            assert [(x.target, x.reason) for x in exits()] == [(huge, "denied")]
            with trio.fail_after(10):
                await wait_log(a, agent, f"c{wire_of(fed, hostkit.Pid(3, 'evil', 66)):016x}:fine")
            assert "evil" in [p.name for p in fed.peers()]  # the link lives on
