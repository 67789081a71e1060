"""``hostkit:federation/groups``: guests join, leave, list and publish to
process groups on their own node and across nodes, through gated, audited
host functions (real guests, real Cedar, real links).

The guest is ``plugins/wat/fed_groups.wat`` (commands by call; it counts the
messages it receives). Each test starts from the hostile case.
"""

from __future__ import annotations

import json
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pluggy
import pytest
import trio

import hostkit
from hostkit.capabilities import Gate
from hostkit.federation import (
    ClusterSecret,
    GuestRemote,
    LinkConfig,
    WebsocketTransport,
    federation_schema,
    open_host_federation,
)
from hostkit.testing import MemoryNetwork, capture_audit

SECRET = bytes(range(32))
DENIED, NOT_FOUND, INVALID, TOO_LARGE, IO, TIMEOUT = range(6)
UNSUPPORTED = 7
ALLOW_ALL = '@id("all") permit (principal, action, resource);'
JOINS = GuestRemote.MAX_JOINS_PER_ACTOR


class Allow:
    def allows(self, peer, action, target, context):
        return True


def _gate(policy: str, remote: GuestRemote) -> Gate:
    plugins = pluggy.PluginManager("hostkit")
    remote.register(plugins)
    return Gate(plugins, policies=policy, schema=federation_schema())


@asynccontextmanager
async def two_hosts(cache_dir: Path, wasm, *, policy: str = ALLOW_ALL, transport=None):
    """Hosts ``a`` and ``b``, both serving guests' groups calls, linked."""
    transport = transport or MemoryNetwork()
    async with AsyncExitStack() as stack:
        hosts, feds = {}, {}
        for name in ("a", "b"):
            remote = GuestRemote()
            cfg = hostkit.HostConfig(
                node_name=name, scheduler_threads=1, cache_dir=cache_dir, activation_timeout=10.0
            )
            hosts[name] = await stack.enter_async_context(
                hostkit.open_host(cfg, capabilities=_gate(policy, remote))
            )
            feds[name] = await stack.enter_async_context(
                open_host_federation(
                    hosts[name],
                    authenticator=ClusterSecret(SECRET),
                    transport=transport,
                    policy=Allow(),
                    config=LinkConfig(heartbeat_timeout=5.0),
                    guest_remote=remote,
                )
            )
            hosts[name].load(wasm["fed_groups"], name="fed_groups")
        listen = "b" if isinstance(transport, MemoryNetwork) else "127.0.0.1:0"
        feds["a"].add_peer("b", await feds["b"].listen(listen))
        with trio.fail_after(10):
            await feds["a"].wait_up("b")
            await feds["b"].wait_up("a")
        yield hosts, feds


def pids_of(reply: str) -> list[int]:
    assert reply.startswith("ok:"), reply
    body = reply[3:]
    return [int(body[i : i + 16], 16) for i in range(0, len(body), 16)]


async def members_become(host, guest, group: str, want) -> list[int]:
    """Poll ``members`` until it equals ``want`` (joins travel over the link)."""
    while True:
        got = sorted(pids_of(await host.call(guest, f"M{group}")))
        if got == sorted(want):
            return got
        await trio.sleep(0.01)


def seen(reply: str) -> tuple[int, int, str]:
    """The guest's ``G`` answer: messages seen, last sender, last payload."""
    assert reply.startswith("ok:"), reply
    return int(reply[3:11], 16), int(reply[12:28], 16), reply[29:]


async def messages_reach(host, guest, count: int) -> tuple[int, int, str]:
    while True:
        got = seen(await host.call(guest, "G"))
        if got[0] >= count:
            return got
        await trio.sleep(0.01)


@pytest.mark.parametrize("transport", ["memory", "websocket"])
async def test_guests_join_and_publish_across_two_hosts(cache_dir, wasm, transport):
    net = MemoryNetwork() if transport == "memory" else WebsocketTransport()
    with capture_audit() as records:
        async with two_hosts(cache_dir, wasm, transport=net) as (hosts, feds):
            a, b = hosts["a"], hosts["b"]
            ga, ga2 = await a.spawn("fed_groups"), await a.spawn("fed_groups")
            gb = await b.spawn("fed_groups")
            with trio.fail_after(10):
                assert await a.call(ga, "Jchat") == "ok"
                assert await b.call(gb, "Jchat") == "ok"
                # a's view: its own member first, then b's under a node slot
                wire_b = feds["a"].local.guest_wire(gb)
                assert wire_b >> 48 != 0
                await members_become(a, ga2, "chat", [ga.id, wire_b])
                assert pids_of(await a.call(ga2, "Mchat"))[0] == ga.id
                # b's view of a's member
                wire_a = feds["b"].local.guest_wire(ga)
                await members_become(b, gb, "chat", [gb.id, wire_a])
                # a non-member publishes: one local member, one on b
                assert await a.call(ga2, "Pchat\nhello all") == "ok:00000002"
                assert await messages_reach(a, ga, 1) == (1, ga2.id, "hello all")
                count, sender, payload = await messages_reach(b, gb, 1)
                assert (count, payload) == (1, "hello all")
                assert feds["b"].local.guest_pid(sender) == ga2  # the publisher, attributable
                # a group nobody joined
                assert await a.call(ga2, "Pnobody\nx") == "ok:00000000"
                assert await a.call(ga2, "Mnobody") == "ok:"
    published = [r for r in records.where(event="decision") if r["action"].endswith("#publish")]
    assert [(r["resource"], r["decision"]) for r in published] == [
        ('ProcessGroup::"chat"', "allow"),
        ('ProcessGroup::"nobody"', "allow"),
    ]


async def test_a_join_the_policy_does_not_grant_is_denied_and_audited(cache_dir, wasm):
    policy = """
@id("chat") permit (
    principal == Plugin::"fed_groups",
    action in [Action::"hostkit:federation/groups#join",
               Action::"hostkit:federation/groups#members"],
    resource == ProcessGroup::"chat");
"""
    with capture_audit() as records:
        async with two_hosts(cache_dir, wasm, policy=policy) as (hosts, feds):
            a, b = hosts["a"], hosts["b"]
            guest = await a.spawn("fed_groups")
            with trio.fail_after(10):
                assert (await a.call(guest, "Jsecret")).startswith(f"e{DENIED}:")
                assert (await a.call(guest, "Psecret\nx")).startswith(f"e{DENIED}:")
                assert (await a.call(guest, "Lchat")).startswith(f"e{DENIED}:")  # leave not granted
                assert await a.call(guest, "Jchat") == "ok"
            # the denied join left nothing behind, here or on the other node
            assert feds["a"].pg_members("secret") == []
            assert feds["a"].pg_members("chat") == [guest.id]
            assert b.actors() == []
    decided = [
        (r["action"].rsplit("#", 1)[1], r["decision"], r["resource"])
        for r in records.where(event="decision")
        if r["action"].startswith("hostkit:federation/groups#")
    ]
    assert decided == [
        ("join", "deny", 'ProcessGroup::"secret"'),
        ("publish", "deny", 'ProcessGroup::"secret"'),
        ("leave", "deny", 'ProcessGroup::"chat"'),
        ("join", "allow", 'ProcessGroup::"chat"'),
    ]


async def test_a_flood_of_joins_stops_at_the_cap_with_too_large(cache_dir, wasm):
    async with two_hosts(cache_dir, wasm) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        guest, other = await a.spawn("fed_groups"), await b.spawn("fed_groups")
        with trio.fail_after(20):
            # joins in a loop within one activation: refused at the cap
            assert await a.call(guest, "Xflood") == f"ok:{JOINS:08x}{TOO_LARGE}"
            # the cap is per actor, over every group, and the error names it
            reply = await a.call(guest, "Jother")
            assert reply.startswith(f"e{TOO_LARGE}:") and "MAX_JOINS_PER_ACTOR" in reply
            assert feds["a"].pg_members("flood") == [guest.id] * JOINS
            # members answers once per join, and the other node sees them all
            await members_become(b, other, "flood", [feds["b"].local.guest_wire(guest)] * JOINS)
            # leaving once makes room for one more join
            assert await a.call(guest, "Lflood") == "ok"
            assert await a.call(guest, "Jother") == "ok"
            assert (await a.call(guest, "Jother")).startswith(f"e{TOO_LARGE}:")


async def test_a_members_answer_holds_at_most_max_members_pids(cache_dir, wasm):
    async with two_hosts(cache_dir, wasm) as (hosts, feds):
        a = hosts["a"]
        actors = GuestRemote.MAX_MEMBERS // JOINS + 1
        guests = [await a.spawn("fed_groups") for _ in range(actors)]
        with trio.fail_after(30):
            for guest in guests:
                assert await a.call(guest, "Xbig") == f"ok:{JOINS:08x}{TOO_LARGE}"
            assert len(feds["a"].pg_members("big")) == actors * JOINS > GuestRemote.MAX_MEMBERS
            answer = pids_of(await a.call(guests[0], "Mbig"))
            assert len(answer) == GuestRemote.MAX_MEMBERS
            assert set(answer) <= {g.id for g in guests}


async def test_bad_names_oversized_payloads_and_unjoined_leaves_are_error_values(cache_dir, wasm):
    async with two_hosts(cache_dir, wasm) as (hosts, _feds):
        a = hosts["a"]
        guest = await a.spawn("fed_groups")
        with trio.fail_after(10):
            assert (await a.call(guest, "J")).startswith(f"e{INVALID}:")
            assert (await a.call(guest, "J" + "g" * 256)).startswith(f"e{INVALID}:")
            assert await a.call(guest, "J" + "g" * 255) == "ok"
            # any characters: the name is the resource's id, never Cedar syntax
            assert await a.call(guest, 'Jq"\\) || true; ') == "ok"
            assert await a.call(guest, 'Lq"\\) || true; ') == "ok"
            assert (await a.call(guest, "Lnever")).startswith(f"e{NOT_FOUND}:")
            big = "x" * (GuestRemote.MAX_PUBLISH_PAYLOAD + 1)
            reply = await a.call(guest, f"P{'g' * 255}\n{big}")
            assert reply.startswith(f"e{TOO_LARGE}:") and "MAX_PUBLISH_PAYLOAD" in reply
            assert seen(await a.call(guest, "G"))[0] == 0  # nothing was delivered
            assert a.is_alive(guest)


async def test_a_member_that_exits_is_gone_from_members_everywhere(cache_dir, wasm):
    async with two_hosts(cache_dir, wasm) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        stays, goes, watcher = (
            await a.spawn("fed_groups"),
            await a.spawn("fed_groups"),
            await b.spawn("fed_groups"),
        )
        with trio.fail_after(10):
            assert await a.call(stays, "Jchat") == "ok"
            assert await a.call(goes, "Jchat") == "ok"
            assert await a.call(goes, "Jchat") == "ok"  # joined twice: both go
            wire = feds["b"].local.guest_wire
            await members_become(b, watcher, "chat", [wire(stays), wire(goes), wire(goes)])
            mon = a.monitor(goes)
            a.kill(goes)
            await mon.wait()
            await members_become(a, stays, "chat", [stays.id])
            await members_become(b, watcher, "chat", [wire(stays)])
            assert await a.call(stays, "Pchat\nx") == "ok:00000001"


async def test_a_node_leaving_removes_its_members(cache_dir, wasm):
    async with two_hosts(cache_dir, wasm) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        ga, gb = await a.spawn("fed_groups"), await b.spawn("fed_groups")
        with trio.fail_after(10):
            assert await a.call(ga, "Jchat") == "ok"
            assert await b.call(gb, "Jchat") == "ok"
            await members_become(a, ga, "chat", [ga.id, feds["a"].local.guest_wire(gb)])
            feds["a"].remove_peer("b")  # the link goes down (and is not redialled)
            await members_become(a, ga, "chat", [ga.id])
            # publishing reaches only what is left; b's member got nothing
            assert await a.call(ga, "Pchat\nafter") == "ok:00000001"
            assert seen(await b.call(gb, "G"))[0] == 0


async def test_a_guest_on_a_host_without_federation_gets_unsupported(cache_dir, wasm):
    remote = GuestRemote()
    cfg = hostkit.HostConfig(scheduler_threads=1, cache_dir=cache_dir)
    async with hostkit.open_host(cfg, capabilities=_gate(ALLOW_ALL, remote)) as host:
        host.load(wasm["fed_groups"], name="fed_groups")
        guest = await host.spawn("fed_groups")
        with trio.fail_after(10):
            assert (await host.call(guest, "Jchat")).startswith(f"e{UNSUPPORTED}:")
            assert (await host.call(guest, "Mchat")).startswith(f"e{UNSUPPORTED}:")


# -- the Python guest SDK ----------------------------------------------------------


def test_without_the_bindings_group_calls_say_what_the_world_lacks() -> None:
    from hostkit.guest import HostCallFailed, remote

    with pytest.raises(HostCallFailed, match="hostkit:federation/groups") as caught:
        remote.join_group("chat")
    assert caught.value.case == "unsupported"


@pytest.fixture(scope="session")
def fedpg_sdk_wasm(python_guests) -> Path:
    import hostkit.build

    root = Path(__file__).resolve().parent.parent
    app = root / "plugins" / "python" / "fedpg_sdk"
    out = root / "plugins" / "build" / "fedpg_sdk.wasm"
    return hostkit.build.build_python(app, out, world="hostkit:federation/federated-plugin").path


@pytest.mark.slow
async def test_python_guests_use_groups_across_nodes_through_the_sdk(
    cache_dir, wasm, fedpg_sdk_wasm
) -> None:
    async with two_hosts(cache_dir, wasm) as (hosts, feds):
        a, b = hosts["a"], hosts["b"]
        await a.load_async(fedpg_sdk_wasm, name="fedpg_sdk")
        await b.load_async(fedpg_sdk_wasm, name="fedpg_sdk")
        pa, pb = await a.spawn("fedpg_sdk"), await b.spawn("fedpg_sdk")
        early = await a.spawn("fedpg_sdk", "join:early")  # joins in init
        assert feds["a"].pg_members("early") == [early.id]

        async def ask(host, pid, msg):
            return json.loads(await host.call(pid, json.dumps(msg), timeout=30))

        with trio.fail_after(60):
            assert await ask(a, pa, {"op": "join", "group": "news"}) is None
            assert await ask(b, pb, {"op": "join", "group": "news"}) is None
            want = sorted([pa.id, feds["a"].local.guest_wire(pb)])
            while sorted(await ask(a, pa, {"op": "members", "group": "news"})) != want:
                await trio.sleep(0.01)
            assert await ask(a, pa, {"op": "publish", "group": "news", "msg": {"n": 1}}) == 2
            while await ask(b, pb, {"op": "seen"}) != [{"n": 1}]:
                await trio.sleep(0.01)
            assert await ask(a, pa, {"op": "seen"}) == [{"n": 1}]
            assert await ask(a, pa, {"op": "leave", "group": "nothing"}) == {
                "error": "not-found",
                "detail": "this actor is not a member of group 'nothing'",
            }
            assert (await ask(a, pa, {"op": "join", "group": ""}))["error"] == "invalid"
