"""A guest spawns on a named node with an atomic monitor
(``hostkit:federation/remote#spawn-monitor``): real WAT guest, real Cedar,
two hosts in one process over the memory transport.

The guest is ``plugins/wat/fedmon_guest.wat``: "M..." spawns with a monitor
and answers ``ok:<pid><ref>``; "G" answers the DOWNs it received.
"""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pluggy
import trio

import hostkit
from hostkit.capabilities import Gate
from hostkit.federation import (
    ClusterSecret,
    GuestRemote,
    LinkConfig,
    RemotePid,
    federation_schema,
    open_host_federation,
)
from hostkit.testing import MemoryNetwork, capture_audit

SECRET = bytes(range(32))
DENIED, NOT_FOUND, INVALID, TOO_LARGE, IO, TIMEOUT = range(6)
ALLOW_ALL = '@id("all") permit (principal, action, resource);'


class Allow:
    def allows(self, peer, action, target, context):
        return True


@asynccontextmanager
async def two_hosts(cache_dir: Path, wasm, *, policy: str = ALLOW_ALL):
    async with AsyncExitStack() as stack:
        hosts, feds = {}, {}
        net = MemoryNetwork()
        for name in ("a", "b"):
            remote = GuestRemote() if name == "a" else None
            gate = None
            if remote is not None:
                plugins = pluggy.PluginManager("hostkit")
                remote.register(plugins)
                gate = Gate(plugins, policies=policy, schema=federation_schema())
            cfg = hostkit.HostConfig(
                node_name=name, scheduler_threads=1, cache_dir=cache_dir, activation_timeout=10.0
            )
            hosts[name] = await stack.enter_async_context(hostkit.open_host(cfg, capabilities=gate))
            feds[name] = await stack.enter_async_context(
                open_host_federation(
                    hosts[name],
                    authenticator=ClusterSecret(SECRET),
                    transport=net,
                    policy=Allow(),
                    config=LinkConfig(heartbeat_timeout=5.0),
                    guest_remote=remote,
                )
            )
        feds["a"].add_peer("b", await feds["b"].listen("b"))
        with trio.fail_after(10):
            await feds["a"].wait_up("b")
        hosts["a"].load(wasm["fedmon_guest"], name="fedmon_guest")
        hosts["b"].load(wasm["echo"], name="echo")
        hosts["b"].load(wasm["fedmon_brief"], name="brief")
        yield hosts, feds, net


def spawned(reply: str) -> tuple[int, int]:
    assert reply.startswith("ok:") and len(reply) == 35, reply
    return int(reply[3:19], 16), int(reply[19:35], 16)


async def downs_of(host, guest) -> list[tuple[int, int, str]]:
    """The DOWNs ``guest`` received so far: (pid, ref, reason)."""
    log = await host.call(guest, "G")
    return [(int(line[:16], 16), int(line[16:32], 16), line[33:]) for line in log.splitlines()]


async def first_down(host, guest) -> tuple[int, int, str]:
    while True:
        found = await downs_of(host, guest)
        if found:
            return found[0]
        await trio.sleep(0.01)


async def test_the_guest_gets_down_normal_with_its_ref_and_the_childs_pid(cache_dir, wasm):
    async with two_hosts(cache_dir, wasm) as (hosts, feds, _net):
        a, b = hosts["a"], hosts["b"]
        digest = b.components["echo"].digest
        guest = await a.spawn("fedmon_guest")
        with trio.fail_after(20):
            wire, ref = spawned(await a.call(guest, f"M00007530b\necho\n{digest}"))
            child = feds["a"].local.guest_pid(wire)
            assert wire >> 48 != 0 and child.node == "b" and b.is_alive(child)
            assert await downs_of(a, guest) == []
            b.send(child, "stop")
            assert await first_down(a, guest) == (wire, ref, "normal")
        assert a.remote_port()._links.remote_monitors == {}


async def test_a_child_that_dies_before_the_spawn_answers_gives_its_real_reason(cache_dir, wasm):
    async with two_hosts(cache_dir, wasm) as (hosts, feds, _net):
        a, b = hosts["a"], hosts["b"]
        digest = b.components["echo"].digest
        bridge = feds["b"].local
        real_spawn = bridge.spawn

        async def spawn_then_kill(*args):
            pid = await real_spawn(*args)
            b.kill(pid)  # host code on b ends it before the Spawned reply leaves
            return pid

        bridge.spawn = spawn_then_kill
        guest = await a.spawn("fedmon_guest")
        with trio.fail_after(20):
            wire, ref = spawned(await a.call(guest, f"M00007530b\necho\n{digest}"))
            pid, got_ref, reason = await first_down(a, guest)
        assert (pid, got_ref) == (wire, ref)
        assert reason.startswith("killed"), reason  # never noproc: the exit was seen
        assert len(await downs_of(a, guest)) == 1
        assert a.remote_port()._links.remote_monitors == {}


async def test_a_child_that_ends_itself_at_once_gives_its_own_reason(cache_dir, wasm):
    async with two_hosts(cache_dir, wasm) as (hosts, _feds, _net):
        a, b = hosts["a"], hosts["b"]
        digest = b.components["brief"].digest
        guest = await a.spawn("fedmon_guest")
        with trio.fail_after(20):
            for _ in range(5):  # its end races the spawn's answer: never noproc
                wire, ref = spawned(await a.call(guest, f"M00007530b\nbrief\n{digest}"))
                while len(found := await downs_of(a, guest)) < 1:
                    await trio.sleep(0.01)
                assert found == [(wire, ref, "error: brief-end")], found
                await a.call(guest, "C")  # clear the log
        assert a.remote_port()._links.remote_monitors == {}


async def test_losing_the_link_gives_down_noconnection(cache_dir, wasm):
    async with two_hosts(cache_dir, wasm) as (hosts, _feds, net):
        a, b = hosts["a"], hosts["b"]
        digest = b.components["echo"].digest
        guest = await a.spawn("fedmon_guest")
        with trio.fail_after(20):
            wire, ref = spawned(await a.call(guest, f"M00007530b\necho\n{digest}"))
            net.wires[-1].cut()
            pid, got_ref, reason = await first_down(a, guest)
        assert (pid, got_ref) == (wire, ref) and reason.startswith("noconnection"), reason


async def test_without_the_remote_monitor_grant_nothing_is_spawned(cache_dir, wasm):
    policy = """
@id("spawn") permit (principal,
                     action == Action::"hostkit:federation/remote#spawn-monitor", resource);
"""
    with capture_audit() as records:
        async with two_hosts(cache_dir, wasm, policy=policy) as (hosts, _feds, _net):
            a, b = hosts["a"], hosts["b"]
            digest = b.components["echo"].digest
            guest = await a.spawn("fedmon_guest")
            with trio.fail_after(20):
                reply = await a.call(guest, f"M00007530b\necho\n{digest}")
                assert reply.startswith(f"e{DENIED}:") and "remote-monitor" in reply, reply
                # with link, the link grant is needed too (denied before it is asked)
                assert (await a.call(guest, f"K00007530b\necho\n{digest}")).startswith(
                    f"e{DENIED}:"
                )
            assert b.actors() == []  # refused before anything left this host
            assert a.remote_port()._links.remote_monitors == {}
    decided = [
        (r["action"], r["decision"])
        for r in records.where(event="decision")
        if r["action"].startswith("hostkit:federation")
    ]
    assert decided[:2] == [
        ("hostkit:federation/remote#spawn-monitor", "allow"),
        ("hostkit:federation#remote-monitor", "deny"),
    ]


async def test_spawn_monitor_with_link_needs_both_grants_and_links_too(cache_dir, wasm):
    policy = """
@id("spawn") permit (principal,
                     action == Action::"hostkit:federation/remote#spawn-monitor", resource);
@id("monitor") permit (principal, action == Action::"hostkit:federation#remote-monitor", resource);
"""
    async with two_hosts(cache_dir, wasm, policy=policy) as (hosts, _feds, _net):
        a, b = hosts["a"], hosts["b"]
        digest = b.components["echo"].digest
        guest = await a.spawn("fedmon_guest")
        with trio.fail_after(20):
            reply = await a.call(guest, f"K00007530b\necho\n{digest}")
            assert reply.startswith(f"e{DENIED}:") and "remote-link" in reply, reply
            assert b.actors() == []
            spawned(await a.call(guest, f"M00007530b\necho\n{digest}"))
            assert len(b.actors()) == 1


async def test_a_failed_spawn_is_an_error_and_releases_the_reserved_ref(cache_dir, wasm):
    async with two_hosts(cache_dir, wasm) as (hosts, _feds, _net):
        a, b = hosts["a"], hosts["b"]
        digest = b.components["echo"].digest
        guest = await a.spawn("fedmon_guest")
        links = a.remote_port()._links
        with trio.fail_after(20):
            unknown = await a.call(guest, f"M00007530b\nnosuch\n{digest}")
            assert unknown.startswith(f"e{IO}:") and "LookupError" in unknown, unknown
            assert (await a.call(guest, "M00007530b\necho\nnot-a-digest")).startswith(
                f"e{INVALID}:"
            )
            assert (await a.call(guest, f"M00007530zeta\necho\n{digest}")).startswith(f"e{IO}:")
            assert (await a.call(guest, f"M00007530a\necho\n{digest}")).startswith(f"e{INVALID}:")
            assert links.remote_monitors == {} and links._remote_refs == {}
            assert b.actors() == [] and await downs_of(a, guest) == []


async def test_a_reserved_ref_dies_with_its_watcher_and_a_down_fills_it_in(cache_dir, wasm):
    # the runtime half, driven on a's Trio thread as federation drives it
    async with two_hosts(cache_dir, wasm) as (hosts, feds, _net):
        a, b = hosts["a"], hosts["b"]
        port, links = a.remote_port(), a.remote_port()._links
        guest = await a.spawn("fedmon_guest")
        assert port.reserve_monitor(999_999) is None  # no such watcher
        # a DOWN that overtakes the spawn's answer names the child
        child = await b.spawn("echo")
        wire = feds["a"].local.slots.encode(RemotePid(child.node, child.creation, child.id))
        ref = port.reserve_monitor(guest.id)
        assert links.remote_monitors[ref] == (links.actors[guest.id], 0, None)
        port.down(ref, "killed", wire=wire, pid=child)
        with trio.fail_after(20):
            assert await first_down(a, guest) == (wire, ref, "killed")
        assert not port.fill_monitor(ref, wire, child)  # too late: no second DOWN
        # a released ref is gone without a DOWN
        ref = port.reserve_monitor(guest.id)
        port.release_monitor(ref)
        assert links.remote_monitors == {} and links._remote_refs == {}
        # the watcher ends with a reservation pending: dropped, nothing sent
        ref = port.reserve_monitor(guest.id)
        watch = a.monitor(guest)
        a.kill(guest)
        with trio.fail_after(20):
            assert (await watch.wait()).kind == "killed"
        assert links.remote_monitors == {} and links._remote_refs == {}
        assert not port.fill_monitor(ref, wire, child)


async def test_spawn_monitor_with_link_links_too(cache_dir, wasm):
    async with two_hosts(cache_dir, wasm) as (hosts, feds, _net):
        a, b = hosts["a"], hosts["b"]
        digest = b.components["echo"].digest
        guest = await a.spawn("fedmon_guest")
        watch = a.monitor(guest)
        with trio.fail_after(20):
            wire, _ref = spawned(await a.call(guest, f"K00007530b\necho\n{digest}"))
            b.kill(feds["a"].local.guest_pid(wire))  # linked before it ran: the guest dies too
            assert (await watch.wait()).kind == "killed"
        assert a.remote_port()._links.remote_monitors == {}
