"""``hostkit:federation/remote``: guests look up and spawn actors on other
nodes through gated, audited host functions (real guests, real Cedar).

The guest is ``plugins/wat/fed_remote.wat`` (commands by call); the found
pids are used by ``plugins/wat/fed_agent.wat``.
"""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pluggy
import pytest
import trio

import hostkit
from hostkit import ComponentLoadError
from hostkit.capabilities import Gate
from hostkit.federation import (
    ClusterSecret,
    GuestRemote,
    LinkConfig,
    federation_schema,
    open_host_federation,
)
from hostkit.testing import MemoryNetwork, capture_audit

SECRET = bytes(range(32))
DENIED, NOT_FOUND, INVALID, TOO_LARGE, IO, TIMEOUT = range(6)
UNSUPPORTED = 7

ALLOW_ALL = '@id("all") permit (principal, action, resource);'


class Allow:
    def allows(self, peer, action, target, context):
        return True


def _gate(policy: str = ALLOW_ALL, remote: GuestRemote | None = None) -> Gate:
    plugins = pluggy.PluginManager("hostkit")
    if remote is not None:
        remote.register(plugins)
    return Gate(plugins, policies=policy, schema=federation_schema())


@asynccontextmanager
async def two_hosts(cache_dir: Path, wasm, *, policy: str = ALLOW_ALL, net=None):
    async with AsyncExitStack() as stack:
        hosts, feds = {}, {}
        net = net or MemoryNetwork()
        for name in ("a", "b"):
            remote = GuestRemote() if name == "a" else None
            cfg = hostkit.HostConfig(
                node_name=name, scheduler_threads=1, cache_dir=cache_dir, activation_timeout=10.0
            )
            gate = _gate(policy, remote) if name == "a" else None
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
        hosts["a"].load(wasm["fed_remote"], name="fed_remote")
        hosts["a"].load(wasm["fed_agent"], name="fed_agent")
        hosts["b"].load(wasm["echo"], name="echo")
        yield hosts, feds


def ok_pid(reply: str) -> int:
    assert reply.startswith("ok:"), reply
    return int(reply[3:], 16)


async def test_a_guest_looks_up_name_node_and_messages_what_it_found(cache_dir, wasm):
    async with two_hosts(cache_dir, wasm) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        svc = await b.spawn("echo")
        b.register(svc, "svc")
        guest = await a.spawn("fed_remote")
        agent = await a.spawn("fed_agent")
        with trio.fail_after(10):
            wire = ok_pid(await a.call(guest, "W00001388b\nsvc"))
            assert wire >> 48 != 0 and feds["a"].local.guest_pid(wire) == svc
            assert await a.call(agent, f"S{wire:016x}") == "ok"
            assert await a.call(agent, f"C{wire:016x}00001388") == "ok:ping"
            assert await b.call(svc, "count") == "1"
            # the node of a pid, and of this node's own
            assert await a.call(guest, f"N{wire:016x}") == "ok:b"
            assert await a.call(guest, f"N{agent.id:016x}") == "ok:a"
            assert (await a.call(guest, f"N{(9 << 48) | 1:016x}")).startswith(f"e{NOT_FOUND}:")
            # past Cedar's Long: refused as a value, not a crash
            huge = await a.call(guest, f"N{(1 << 63) | 1:016x}")
            assert huge.startswith((f"e{DENIED}:", f"e{NOT_FOUND}:")), huge
            # nothing registered, an unknown node, this node
            assert (await a.call(guest, "W00001388b\nnobody")).startswith(f"e{NOT_FOUND}:")
            assert (await a.call(guest, "W00001388zeta\nsvc")).startswith(f"e{IO}:")
            a.register(agent, "me")
            assert ok_pid(await a.call(guest, "W00001388a\nme")) == agent.id


async def test_a_guest_spawns_on_a_named_node_by_component_and_digest(cache_dir, wasm):
    async with two_hosts(cache_dir, wasm) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        digest = b.components["echo"].digest
        guest = await a.spawn("fed_remote")
        with trio.fail_after(20):
            wire = ok_pid(await a.call(guest, f"P00007530b\necho\n{digest}"))
            child = feds["a"].local.guest_pid(wire)
            assert child.node == "b" and b.is_alive(child)
            wrong = await a.call(guest, f"P00007530b\necho\n{'0' * 64}")
            assert wrong.startswith(f"e{IO}:") and "LookupError" in wrong
            assert (await a.call(guest, "P00007530b\necho\nnot-a-digest")).startswith(
                f"e{INVALID}:"
            )
            assert (await a.call(guest, f"P00007530a\necho\n{digest}")).startswith(f"e{INVALID}:")


async def test_cedar_decides_each_remote_call_with_the_node_as_resource(cache_dir, wasm):
    policy = """
@id("lookup-b") permit (
    principal == Plugin::"fed_remote",
    action == Action::"hostkit:federation/remote#whereis",
    resource == Node::"b")
when { context.name == "svc" };

@id("messaging") permit (principal, action == Action::"hostkit:federation#remote-send", resource);
"""
    with capture_audit() as records:
        async with two_hosts(cache_dir, wasm, policy=policy) as (hosts, _feds):
            a, b = hosts["a"], hosts["b"]
            b.register(await b.spawn("echo"), "svc")
            b.register(await b.spawn("echo"), "secret")
            guest = await a.spawn("fed_remote")
            digest = b.components["echo"].digest
            with trio.fail_after(10):
                ok_pid(await a.call(guest, "W00001388b\nsvc"))
                assert (await a.call(guest, "W00001388b\nsecret")).startswith(f"e{DENIED}:")
                assert (await a.call(guest, f"P00001388b\necho\n{digest}")).startswith(
                    f"e{DENIED}:"
                )
                assert (await a.call(guest, f"N{1 << 48:016x}")).startswith(f"e{DENIED}:")
            assert len(b.actors()) == 2  # the denied spawn never left this host
    decided = [
        (r["action"], r["decision"], r["resource"])
        for r in records.where(event="decision")
        if r["action"].startswith("hostkit:federation/remote#")
    ]
    assert decided == [
        ("hostkit:federation/remote#whereis", "allow", 'Node::"b"'),
        ("hostkit:federation/remote#whereis", "deny", 'Node::"b"'),
        ("hostkit:federation/remote#spawn", "deny", 'Node::"b"'),
        ("hostkit:federation/remote#node-of", "deny", 'Node::"b"'),
    ]


async def test_a_guest_on_a_host_without_federation_gets_unsupported(cache_dir, wasm):
    remote = GuestRemote()
    cfg = hostkit.HostConfig(scheduler_threads=1, cache_dir=cache_dir)
    async with hostkit.open_host(cfg, capabilities=_gate(remote=remote)) as host:
        host.load(wasm["fed_remote"], name="fed_remote")
        guest = await host.spawn("fed_remote")
        with trio.fail_after(10):
            assert (await host.call(guest, "W00001388b\nsvc")).startswith(f"e{UNSUPPORTED}:")
            assert (await host.call(guest, f"N{1:016x}")).startswith(f"e{UNSUPPORTED}:")


async def test_the_interface_is_additive_old_components_load_unchanged(cache_dir, wasm):
    # a host whose gate serves hostkit:federation/remote loads guests built
    # against hostkit:plugin@0.1.0 alone exactly as before
    cfg = hostkit.HostConfig(scheduler_threads=1, cache_dir=cache_dir)
    async with hostkit.open_host(cfg, capabilities=_gate(remote=GuestRemote())) as host:
        host.load(wasm["echo"], name="echo")
        pid = await host.spawn("echo")
        with trio.fail_after(10):
            assert await host.call(pid, "still here") == "still here"
    # and a component that imports it, on a host that does not serve it, is
    # refused at load with the import named
    async with hostkit.open_host(cfg, capabilities=_gate()) as host:
        with pytest.raises(ComponentLoadError, match="hostkit:federation/remote"):
            host.load(wasm["fed_remote"], name="fed_remote")


async def test_a_guests_spawn_link_is_atomic_and_needs_the_link_grant(cache_dir, wasm):
    policy = """
@id("spawn") permit (principal, action == Action::"hostkit:federation/remote#spawn", resource);
@id("link") permit (principal == Plugin::"fed_remote",
                    action == Action::"hostkit:federation#remote-link", resource);
"""
    async with two_hosts(cache_dir, wasm, policy=policy) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        digest = b.components["echo"].digest
        guest = await a.spawn("fed_remote")
        watch = a.monitor(guest)
        with trio.fail_after(20):
            wire = ok_pid(await a.call(guest, f"Q00007530b\necho\n{digest}"))
            child = feds["a"].local.guest_pid(wire)
            b.kill(child)  # the link existed before the child ran: the guest dies too
            assert (await watch.wait()).kind == "killed"
        # a plugin without the link grant may spawn, but not spawn_link
        a.load(wasm["fed_remote"], name="other")
        other = await a.spawn("other")
        before = len(b.actors())
        with trio.fail_after(20):
            assert (await a.call(other, f"Q00007530b\necho\n{digest}")).startswith(f"e{DENIED}:")
            assert len(b.actors()) == before  # refused before anything left this host
            ok_pid(await a.call(other, f"P00007530b\necho\n{digest}"))


async def test_a_guest_waiting_on_another_node_holds_no_scheduler_thread(cache_dir, wasm):
    """whereis/spawn on another node are async hooks: with the only scheduler
    thread of node a, a local actor is served while a guest waits on a slow
    link (without suspension that thread would wait for the other node)."""
    net = MemoryNetwork()
    async with two_hosts(cache_dir, wasm, net=net) as (hosts, _feds):
        a, b = hosts["a"], hosts["b"]
        b.register(await b.spawn("echo"), "svc")
        guest = await a.spawn("fed_remote")
        local = await a.spawn(a.load(wasm["echo"]))
        assert net.wires
        for wire in net.wires:
            wire.delay = 2.0
        replies: list[str] = []

        async def look_up() -> None:
            replies.append(await a.call(guest, "W00002710b\nsvc"))

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(look_up)
                await trio.sleep(0.2)  # the guest is waiting on node b
                assert await a.call(local, "served") == "served"
                assert replies == []  # ... and still waiting
        assert replies[0].startswith("ok:"), replies
